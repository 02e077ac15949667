"""Schedules for the sync jobs.

Plain `ScheduleDefinition`s on asset jobs rather than `AutomationCondition.on_cron`: the six
assets share one dlt op, so a tick should be exactly one dlt pipeline run, visible in the
schedule's tick history, and started or stopped by a deliberate `default_status`. Declarative
automation decides per asset and needs the automation sensor; it buys nothing here.
"""

from dagster import ScheduleDefinition

from analytics_assets.jobs import gitbook_full_sync_job, gitbook_traffic_sync_job
from analytics_assets.operations import OperationsConfig


def build_schedules(ops: OperationsConfig) -> list[ScheduleDefinition]:
    """Both schedules share the timezone and the started-or-stopped choice."""
    plan = [
        ("gitbook_daily_full_sync", gitbook_full_sync_job, ops.full_sync_cron,
         "Every table, once a day."),
        ("gitbook_hourly_traffic_sync", gitbook_traffic_sync_job, ops.traffic_sync_cron,
         "insights_traffic and its parents, every hour."),
    ]  # fmt: skip
    return [
        ScheduleDefinition(
            name=name,
            job=job,
            cron_schedule=cron,
            execution_timezone=ops.schedule_timezone,
            default_status=ops.default_schedule_status,
            description=description,
        )
        for name, job, cron, description in plan
    ]
