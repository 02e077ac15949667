"""GitBook's REST API as a dlt source. Pure dlt: nothing here imports Dagster.

The source and its HTTP stack (requests, dlt's rest_api) are imported on first use, so code that
only needs the resource table (`settings`), such as loading Dagster definitions, stays fast.
"""

from typing import Any

from analytics_assets.gitbook.settings import DATASET_NAME, RESOURCES, RESOURCES_BY_NAME


def __getattr__(name: str) -> Any:
    if name in ("build_rest_api_config", "gitbook_source"):
        from analytics_assets.gitbook import source

        return getattr(source, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DATASET_NAME",
    "RESOURCES",
    "RESOURCES_BY_NAME",
    "build_rest_api_config",
    "gitbook_source",
]
