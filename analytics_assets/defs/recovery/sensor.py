"""Under the daemon: free the pool slots of dead runs every minute, even while no run starts.

Dagster's run monitoring frees the slots of runs it knows ended (`free_slots_after_run_end_seconds`
in dagster.yaml). A headless run killed on this host is never marked ended, so a queued run
would wait behind it until its max runtime; this sensor finds it within a minute. It calls no
API and requests no run, so it starts running.
"""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from analytics_assets.defs.alerts.run_alerts import alert_dead_run
from analytics_assets.defs.alerts.webhook import Webhook
from analytics_assets.defs.recovery.stale_claims import heal

RECOVERY_SENSOR = "gitbook_dead_run_recovery"


@sensor(
    name=RECOVERY_SENSOR,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Marks runs whose worker died as failed and frees their pool slots.",
)
def dead_run_recovery(context: SensorEvaluationContext) -> SkipReason:
    notify = alert_dead_run(context.instance, Webhook.from_env(), context.log.warning)
    freed, left = heal(context.instance, on_marked_failed=notify)
    for line in freed:
        context.log.warning(line)
    return SkipReason(f"freed {len(freed)} dead run(s); {len(left)} holder(s) left alone")
