"""GitBook's REST API as a dlt source. Pure dlt: nothing here imports Dagster."""

from analytics_assets.gitbook.settings import DATASET_NAME, RESOURCES, RESOURCES_BY_NAME
from analytics_assets.gitbook.source import build_rest_api_config, gitbook_source

__all__ = [
    "DATASET_NAME",
    "RESOURCES",
    "RESOURCES_BY_NAME",
    "build_rest_api_config",
    "gitbook_source",
]
