"""The code location's single entry point: composes the parts, holds no logic.

`@definitions` makes loading lazy: settings are read when Dagster loads the code location,
never when the module is imported.
"""

from dagster import Definitions, definitions
from dagster_dlt import DagsterDltResource

from analytics_assets.alerts.sensors import alert_sensors
from analytics_assets.alerts.webhook import Webhook
from analytics_assets.assets import build_gitbook_assets
from analytics_assets.automation import models_sensor
from analytics_assets.checks import build_checks
from analytics_assets.gitbook.history import HISTORIES
from analytics_assets.gitbook.settings import RESOURCES, SITE_INSIGHTS_DAILY
from analytics_assets.jobs import (
    gitbook_full_sync_job,
    gitbook_models_job,
    gitbook_site_insights_job,
    gitbook_traffic_sync_job,
)
from analytics_assets.models import build_models_assets, models_selection
from analytics_assets.models_project import dbt_cli, prepared_project
from analytics_assets.operations import OperationsConfig
from analytics_assets.recovery.executor import guarded_in_process_executor
from analytics_assets.recovery.sensor import dead_run_recovery
from analytics_assets.resources import GitBookResource, WarehouseResource
from analytics_assets.schedules import build_schedules
from analytics_assets.site_insights_assets import (
    build_site_insights_assets,
    site_insights_partitions,
)


def build_definitions(ops: OperationsConfig, destination: str = "duckdb") -> Definitions:
    windows = {spec.name: ops.freshness_window_for(spec.name) for spec in RESOURCES}
    # A history is as fresh as the sync that loads its current table.
    windows |= {h.name: ops.freshness_window_for(h.current.name) for h in HISTORIES}
    project = prepared_project()
    return Definitions(
        assets=[
            build_gitbook_assets(
                destination=destination,
                freshness_windows=windows,
                progress_seconds=ops.progress_seconds,
            ),
            build_site_insights_assets(
                site_insights_partitions(ops.site_insights_start),
                destination=destination,
                freshness_window=ops.freshness_window_for(SITE_INSIGHTS_DAILY.name),
                progress_seconds=ops.progress_seconds,
            ),
            build_models_assets(project, destination=destination),
        ],
        asset_checks=build_checks(ops),
        jobs=[
            gitbook_full_sync_job,
            gitbook_traffic_sync_job,
            gitbook_site_insights_job,
            gitbook_models_job,
        ],
        schedules=build_schedules(ops),
        sensors=[
            models_sensor(
                models_selection, ops.models_automation_seconds, ops.models_automation_running
            ),
            dead_run_recovery,
            *alert_sensors(Webhook.from_env() is not None, ops.alert_sensor_seconds),
        ],
        # In-process: the sync is one dlt op and the checks are short queries. Separate step
        # processes would add seconds of imports each, and parallel check processes would
        # contend for an embedded DuckDB file's lock. Parallelism lives inside the dlt op.
        # Guarded: a dead run's pool slots are freed, and failures are alerted (recovery/).
        executor=guarded_in_process_executor,
        resources={
            "dlt": DagsterDltResource(),
            "gitbook": GitBookResource(),
            "warehouse": WarehouseResource(),
            "dbt": dbt_cli(project),
        },
    )


@definitions
def defs() -> Definitions:
    # The asset kinds name the destination that ANALYTICS_DESTINATION selects.
    destination = WarehouseResource().resolve_destination()
    return build_definitions(OperationsConfig.from_env(), destination)
