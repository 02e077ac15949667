"""The code location's single entry point: composes assets and resources, holds no logic."""

from dagster import Definitions
from dagster_dlt import DagsterDltResource

from analytics_assets.assets import build_gitbook_assets
from analytics_assets.jobs import gitbook_full_sync_job
from analytics_assets.resources import GitBookResource, WarehouseResource

gitbook_assets = build_gitbook_assets()

defs = Definitions(
    assets=[gitbook_assets],
    jobs=[gitbook_full_sync_job],
    resources={
        "dlt": DagsterDltResource(),
        "gitbook": GitBookResource(),
        "warehouse": WarehouseResource(),
    },
)
