"""A local, GitBook-compatible REST API with deterministic data, for tests, demos and benchmarks."""

from analytics_assets.devtools.fake_api.dataset import Dataset
from analytics_assets.devtools.fake_api.rate_limit import UNENFORCED_RATE_LIMIT, RateLimit
from analytics_assets.devtools.fake_api.server import (
    LEGACY_TRAFFIC_API,
    MAX_LIMIT,
    READER_ORG_PERMISSIONS,
    REQUIRED_SCOPES,
    TODAY_API,
    FakeGitBookAPI,
    Fault,
    RecordedRequest,
)

__all__ = [
    "LEGACY_TRAFFIC_API",
    "MAX_LIMIT",
    "READER_ORG_PERMISSIONS",
    "REQUIRED_SCOPES",
    "TODAY_API",
    "UNENFORCED_RATE_LIMIT",
    "Dataset",
    "FakeGitBookAPI",
    "Fault",
    "RateLimit",
    "RecordedRequest",
]
