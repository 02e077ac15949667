"""Under the daemon, the two alerts a run cannot send about itself.

- `gitbook_run_failure_alerts`: Dagster's `run_failure_sensor`, for runs that failed without
  their worker sending (a worker killed mid-run, which Dagster then marks failed; a run that
  failed before its steps started). Runs that already sent their alert are skipped by tag.
- `gitbook_freshness_alerts`: assets that went past their freshness window while nothing ran.

Both exist only when `ANALYTICS_ALERT_WEBHOOK_URL` is set, and then start running.
"""

from dagster import (
    DefaultSensorStatus,
    Definitions,
    RunFailureSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    definitions,
    run_failure_sensor,
    sensor,
)

from analytics_assets.defs.alerts.freshness import alert_stale_assets
from analytics_assets.defs.alerts.messages import first_line, run_failed, step_failure_summary
from analytics_assets.defs.alerts.once import claim_run_failure
from analytics_assets.defs.alerts.webhook import ALERT_WEBHOOK_ENV, Webhook
from analytics_assets.settings import OperationsConfig

RUN_FAILURE_SENSOR = "gitbook_run_failure_alerts"
RUNNING = DefaultSensorStatus.RUNNING
FRESHNESS_SENSOR = "gitbook_freshness_alerts"


def alert_sensors(configured: bool, interval_seconds: int) -> list[SensorDefinition]:
    """None when alerts are off; `interval_seconds` is how often each looks. Each tick reads the
    webhook anew, so one that failed is tried again on the next tick."""
    if not configured:
        return []
    every = {"minimum_interval_seconds": interval_seconds, "default_status": RUNNING}

    @run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        description="One webhook alert per failed run that has not sent its own.",
        **every,
    )
    def run_failure_alerts(context: RunFailureSensorContext) -> None:
        webhook, run = Webhook.from_env(), context.dagster_run
        if webhook is None or not claim_run_failure(context.instance, run.run_id):
            return
        steps = [step_failure_summary(event) for event in context.get_step_failure_events()]
        why = "\n".join(steps[:5]) or first_line(context.failure_event.message)
        webhook.send(run_failed(run.job_name, run.run_id, why), context.log.warning)

    @sensor(
        name=FRESHNESS_SENSOR,
        description="One webhook alert per asset that goes past its freshness window.",
        **every,
    )
    def freshness_alerts(context: SensorEvaluationContext) -> SkipReason:
        webhook = Webhook.from_env()
        if webhook is None:
            return SkipReason(f"{ALERT_WEBHOOK_ENV} is not set")
        graph = context.repository_def.asset_graph  # type: ignore[union-attr]
        sent = alert_stale_assets(context.instance, graph, webhook, context.log.warning)
        return SkipReason(f"{sent} stale asset alert(s) sent")

    return [run_failure_alerts, freshness_alerts]


@definitions
def defs() -> Definitions:
    ops = OperationsConfig.from_env()
    return Definitions(
        sensors=alert_sensors(Webhook.from_env() is not None, ops.alert_sensor_seconds)
    )
