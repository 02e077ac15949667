"""Jobs over the GitBook assets."""

from dagster import AssetSelection, define_asset_job

from analytics_assets.translator import GROUP_NAME

FULL_SYNC_JOB_NAME = "gitbook_full_sync"

gitbook_full_sync_job = define_asset_job(
    name=FULL_SYNC_JOB_NAME,
    selection=AssetSelection.groups(GROUP_NAME),
    description="Sync every GitBook table in one dlt pipeline run.",
)
