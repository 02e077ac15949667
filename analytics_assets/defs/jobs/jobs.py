"""Jobs over the GitBook assets; asset jobs also run the checks of the assets they select."""

from dagster import AssetSelection, define_asset_job
from dagster._core.storage.tags import MAX_RUNTIME_SECONDS_TAG

from analytics_assets.defs.models import MODELS_GROUP
from analytics_assets.defs.sync.translator import GROUP_NAME, asset_key
from analytics_assets.gitbook.settings import SITE_INSIGHTS_TABLES

FULL_SYNC_JOB_NAME = "gitbook_full_sync"
TRAFFIC_SYNC_JOB_NAME = "gitbook_traffic_sync"
SITE_INSIGHTS_JOB_NAME = "gitbook_site_insights_sync"
MODELS_JOB_NAME = "gitbook_models"

HOUR = 3600
# `dagster/max_runtime`: the run monitoring daemon fails a run that runs longer, so a hung run
# frees the pool. Sized for the largest account we design for (200 organizations, 20,000
# spaces, 100 sites; docs/operating.md#how-long-a-run-may-take): a full sync with a full
# re-fetch on the legacy API is ~40,600 requests, ~35 min at 8 in flight and 0.4 s each, plus
# at most 15 min waiting for rate-limit windows (GITBOOK_MAX_RATE_LIMIT_WAIT_SECONDS), plus the
# load: about an hour, doubled. Raise a run's own tag for anything larger.
MAX_RUNTIME_SECONDS = {
    FULL_SYNC_JOB_NAME: 2 * HOUR,
    TRAFFIC_SYNC_JOB_NAME: 1 * HOUR,  # 20,000 requests ~17 min, plus the 15 min wait cap
    # Backfills are single runs of many days; the schedules' one-day runs carry 1 hour.
    SITE_INSIGHTS_JOB_NAME: 6 * HOUR,
    MODELS_JOB_NAME: 1 * HOUR,
}
SCHEDULED_DAY_MAX_RUNTIME_SECONDS = 1 * HOUR


def max_runtime(job_name: str, seconds: int | None = None) -> dict[str, str]:
    """The tag that bounds a run of `job_name` under the daemon."""
    return {MAX_RUNTIME_SECONDS_TAG: str(seconds or MAX_RUNTIME_SECONDS[job_name])}


_site_insights = AssetSelection.assets(*(asset_key(spec.name) for spec in SITE_INSIGHTS_TABLES))

# The partitioned site insights have their own job: one job cannot mix partitioned and
# unpartitioned assets, and a day's insights should not wait for a full sync.
gitbook_full_sync_job = define_asset_job(
    name=FULL_SYNC_JOB_NAME,
    tags=max_runtime(FULL_SYNC_JOB_NAME),
    selection=AssetSelection.groups(GROUP_NAME) - _site_insights,
    description="Sync every unpartitioned GitBook table in one dlt pipeline run, then check it.",
)

# dlt fetches organizations and spaces to reach traffic anyway; loading them too keeps every
# traffic row's space_id resolvable (and the parent checks green) between daily syncs.
gitbook_traffic_sync_job = define_asset_job(
    name=TRAFFIC_SYNC_JOB_NAME,
    tags=max_runtime(TRAFFIC_SYNC_JOB_NAME),
    selection=AssetSelection.assets(asset_key("insights_traffic")).upstream(),
    description="Sync insights_traffic and the spaces and organizations it hangs off.",
)

gitbook_site_insights_job = define_asset_job(
    name=SITE_INSIGHTS_JOB_NAME,
    tags=max_runtime(SITE_INSIGHTS_JOB_NAME),
    selection=_site_insights,
    description="Load the chosen UTC day(s) of every site insights table, then check them.",
)

# The models refresh by declarative automation (defs/models/automation.py); this job builds
# them on demand: the demo, the CI gate, a person after a backfill. It reads the tables only.
gitbook_models_job = define_asset_job(
    name=MODELS_JOB_NAME,
    tags=max_runtime(MODELS_JOB_NAME),
    selection=AssetSelection.groups(MODELS_GROUP),
    description="dbt build: every model over the loaded tables, and every dbt test as a check.",
)
