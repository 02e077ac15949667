"""When the dbt models refresh: declarative automation, right after their upstream tables load.

The models depend on tables that three jobs load on their own clocks (the daily full sync, the
hourly traffic sync, the hourly site insights partition), and on a partitioned table that no
unpartitioned job can include. A condition per model follows whichever of them updated its
inputs, with no schedule of its own and no dbt step inside the sync jobs, so a schedule tick is
still exactly one dlt pipeline run; the automation sensor then starts one dbt run for every model
due on that tick.

The condition is Dagster's `eager()` with one change: `eager()` waits while any dependency is
missing, and for an unpartitioned model over the daily-partitioned site insights tables that
means while *any* day since the start date is missing, which is forever. Here a dependency counts
as present once it has any materialized partition. It also waits for the raw tables' blocking
checks to pass, so a table with duplicate keys never reaches a mart. Between models, `dbt build`
itself skips what sits downstream of a failed test, and the models' own checks only run in the
same dbt run, so they are left out of that wait.
"""

from dagster import (
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    definitions,
)

from analytics_assets.defs.models import MODELS_GROUP
from analytics_assets.defs.models.profile import PROFILE_TARGETS
from analytics_assets.defs.resources import WarehouseResource
from analytics_assets.settings import OperationsConfig

MODELS_SENSOR_NAME = "gitbook_models_automation"
models_selection = AssetSelection.groups(MODELS_GROUP)


def models_condition() -> AutomationCondition:
    """Eager, once every dependency has data and the raw tables' blocking checks passed."""
    has_data = ~AutomationCondition.missing() | AutomationCondition.will_be_requested()
    return (
        AutomationCondition.in_latest_time_window()
        & (
            AutomationCondition.newly_missing() | AutomationCondition.any_deps_updated()
        ).since_last_handled()
        & AutomationCondition.all_deps_match(has_data).with_label("every dependency has data")
        & AutomationCondition.all_deps_blocking_checks_passed().ignore(
            AssetSelection.groups(MODELS_GROUP)
        )
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("eager, once every dependency has data")


def models_sensor(
    selection: AssetSelection, interval_seconds: int, running: bool, destination: str = "duckdb"
) -> AutomationConditionSensorDefinition:
    """The sensor that evaluates the models' conditions. It calls no API, so it may start running:
    it only builds models from tables that something else loaded.

    On a destination the dbt profile has no output for, every models run would fail after every
    sync; the sensor then starts stopped, and says why in the UI.
    """
    description = "Builds the dbt models (and runs their tests) after their inputs load."
    if destination not in PROFILE_TARGETS:
        running = False
        description += (
            f" Stopped: the dbt profile has no output for {destination!r} (the models run on "
            f"{' and '.join(PROFILE_TARGETS)}; see docs/models.md)."
        )
    return AutomationConditionSensorDefinition(
        MODELS_SENSOR_NAME,
        target=selection,
        default_status=DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=interval_seconds,
        description=description,
    )


@definitions
def defs() -> Definitions:
    ops = OperationsConfig.from_env()
    sensor = models_sensor(
        models_selection,
        ops.models_automation_seconds,
        ops.models_automation_running,
        WarehouseResource().resolve_destination(),
    )
    return Definitions(sensors=[sensor])
