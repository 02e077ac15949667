"""Schedules for the sync jobs.

Plain `ScheduleDefinition`s on asset jobs rather than `AutomationCondition.on_cron`: the
unpartitioned assets share one dlt op, so a tick should be exactly one dlt pipeline run, visible
in the schedule's tick history, and started or stopped by a deliberate `default_status`.
Declarative automation decides per asset and needs the automation sensor; it buys nothing here.

Site insights get two schedules on their partitioned job: every hour today's partition (the day
is still running), and once a day yesterday's, so each day is closed with its final numbers.
"""

from collections.abc import Callable
from datetime import timedelta, timezone

from dagster import (
    Definitions,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    definitions,
)

from analytics_assets.defs.jobs.jobs import (
    SCHEDULED_DAY_MAX_RUNTIME_SECONDS,
    SITE_INSIGHTS_JOB_NAME,
    gitbook_full_sync_job,
    gitbook_site_insights_job,
    gitbook_traffic_sync_job,
    max_runtime,
)
from analytics_assets.settings import OperationsConfig


def _utc_day(days_back: int) -> Callable[[ScheduleEvaluationContext], RunRequest]:
    """A run of the UTC day `days_back` days before the tick (0: the tick's own day)."""

    def partition(context: ScheduleEvaluationContext) -> RunRequest:
        tick = context.scheduled_execution_time
        assert tick is not None
        day = tick.astimezone(timezone.utc).date()  # partitions are UTC days, whatever the cron tz
        key = (day - timedelta(days=days_back)).isoformat()
        return RunRequest(
            run_key=f"{key}@{tick.isoformat()}",
            partition_key=key,
            tags=max_runtime(SITE_INSIGHTS_JOB_NAME, SCHEDULED_DAY_MAX_RUNTIME_SECONDS),
        )

    return partition


def build_schedules(ops: OperationsConfig) -> list[ScheduleDefinition]:
    """Every schedule shares the timezone and the started-or-stopped choice."""
    plan = [
        ("gitbook_daily_full_sync", gitbook_full_sync_job, ops.full_sync_cron, None,
         "Every unpartitioned table, once a day."),
        ("gitbook_hourly_traffic_sync", gitbook_traffic_sync_job, ops.traffic_sync_cron, None,
         "insights_traffic and its parents, every hour."),
        ("gitbook_hourly_site_insights_today", gitbook_site_insights_job,
         ops.site_insights_today_cron, _utc_day(0),
         "Today's site insights partition (UTC), every hour while the day runs."),
        ("gitbook_daily_site_insights_close_day", gitbook_site_insights_job,
         ops.site_insights_close_day_cron, _utc_day(1),
         "Yesterday's site insights partition (UTC), once, with the day's final numbers."),
    ]  # fmt: skip
    return [
        ScheduleDefinition(
            name=name,
            job=job,
            cron_schedule=cron,
            execution_timezone=ops.schedule_timezone,
            default_status=ops.default_schedule_status,
            description=description,
            **({"execution_fn": run} if run is not None else {}),
        )
        for name, job, cron, run, description in plan
    ]


@definitions
def defs() -> Definitions:
    return Definitions(schedules=build_schedules(OperationsConfig.from_env()))
