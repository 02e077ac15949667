"""A local, GitBook-compatible REST API with deterministic data, for tests, demos and benchmarks."""

from analytics_assets.devtools.fake_api.dataset import Dataset
from analytics_assets.devtools.fake_api.server import FakeGitBookAPI, Fault, RecordedRequest

__all__ = ["Dataset", "FakeGitBookAPI", "Fault", "RecordedRequest"]
