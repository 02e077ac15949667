"""Jobs over the GitBook assets; asset jobs also run the checks of the assets they select."""

from dagster import AssetSelection, define_asset_job

from analytics_assets.translator import GROUP_NAME, asset_key

FULL_SYNC_JOB_NAME = "gitbook_full_sync"
TRAFFIC_SYNC_JOB_NAME = "gitbook_traffic_sync"

gitbook_full_sync_job = define_asset_job(
    name=FULL_SYNC_JOB_NAME,
    selection=AssetSelection.groups(GROUP_NAME),
    description="Sync every GitBook table in one dlt pipeline run, then run every check.",
)

# dlt fetches organizations and spaces to reach traffic anyway; loading them too keeps every
# traffic row's space_id resolvable (and the parent checks green) between daily syncs.
gitbook_traffic_sync_job = define_asset_job(
    name=TRAFFIC_SYNC_JOB_NAME,
    selection=AssetSelection.assets(asset_key("insights_traffic")).upstream(),
    description="Sync insights_traffic and the spaces and organizations it hangs off.",
)
