"""The ANALYTICS_* operational settings: schedules, freshness windows, check windows, the models'
automation, alert and progress intervals. The GitBook and warehouse settings belong to the
resources (`analytics_assets.defs.resources`), which read them when a run starts.

Read from the environment when Dagster loads the definitions (not at import), with defaults a
data engineer can leave alone.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from dagster import DefaultScheduleStatus, EnvVar

from analytics_assets.gitbook.settings import SITE_INSIGHTS_TABLES

FULL_SYNC_CRON_ENV = "ANALYTICS_FULL_SYNC_CRON"
TRAFFIC_SYNC_CRON_ENV = "ANALYTICS_TRAFFIC_SYNC_CRON"
SCHEDULE_TIMEZONE_ENV = "ANALYTICS_SCHEDULE_TIMEZONE"
SCHEDULES_RUNNING_ENV = "ANALYTICS_SCHEDULES_RUNNING"
FRESHNESS_HOURS_ENV = "ANALYTICS_FRESHNESS_HOURS"
TRAFFIC_FRESHNESS_HOURS_ENV = "ANALYTICS_TRAFFIC_FRESHNESS_HOURS"
TRAFFIC_MAX_DATA_AGE_HOURS_ENV = "ANALYTICS_TRAFFIC_MAX_DATA_AGE_HOURS"
PROGRESS_SECONDS_ENV = "ANALYTICS_PROGRESS_SECONDS"
SITE_INSIGHTS_START_ENV = "ANALYTICS_SITE_INSIGHTS_START_DATE"
SITE_INSIGHTS_TODAY_CRON_ENV = "ANALYTICS_SITE_INSIGHTS_TODAY_CRON"
SITE_INSIGHTS_CLOSE_DAY_CRON_ENV = "ANALYTICS_SITE_INSIGHTS_CLOSE_DAY_CRON"
MODELS_AUTOMATION_ENV = "ANALYTICS_MODELS_AUTOMATION"
MODELS_AUTOMATION_SECONDS_ENV = "ANALYTICS_MODELS_AUTOMATION_SECONDS"
ALERT_SENSOR_SECONDS_ENV = "ANALYTICS_ALERT_SENSOR_SECONDS"

TRAFFIC_TABLE = "insights_traffic"
SITE_INSIGHTS_NAMES = tuple(spec.name for spec in SITE_INSIGHTS_TABLES)
# Tables refreshed every hour: they get the short freshness window.
HOURLY_TABLES = (TRAFFIC_TABLE, *SITE_INSIGHTS_NAMES)


def _hours(value: str | None, default: float) -> timedelta:
    return timedelta(hours=float(value) if value else default)


@dataclass(frozen=True)
class OperationsConfig:
    """Everything about running the sync unattended that a deployment may want to change."""

    full_sync_cron: str = "0 3 * * *"
    traffic_sync_cron: str = "15 * * * *"
    schedule_timezone: str = "UTC"
    schedules_running: bool = False
    freshness_window: timedelta = timedelta(hours=26)
    traffic_freshness_window: timedelta = timedelta(hours=2)
    traffic_max_data_age: timedelta = timedelta(hours=48)
    # How often a running sync logs pages fetched and rows so far, per resource.
    progress_seconds: float = 10.0
    # The first daily partition of the site insights tables (GitBook keeps about a year of events).
    site_insights_start: date = date(2025, 1, 1)
    site_insights_today_cron: str = "25 * * * *"
    site_insights_close_day_cron: str = "30 1 * * *"
    # The dbt models' automation sensor: on unless switched off (it calls no API), and how often
    # it looks for models whose inputs have loaded.
    models_automation_running: bool = True
    models_automation_seconds: int = 30
    # How often, under the daemon, the alert sensors look for failed runs and stale assets.
    alert_sensor_seconds: int = 60

    @classmethod
    def from_env(cls) -> "OperationsConfig":
        defaults = cls()
        running = (EnvVar(SCHEDULES_RUNNING_ENV).get_value() or "").strip().lower()
        models_automation = (EnvVar(MODELS_AUTOMATION_ENV).get_value() or "true").strip().lower()
        settings: dict[str, Any] = {
            "full_sync_cron": EnvVar(FULL_SYNC_CRON_ENV).get_value() or defaults.full_sync_cron,
            "traffic_sync_cron": (
                EnvVar(TRAFFIC_SYNC_CRON_ENV).get_value() or defaults.traffic_sync_cron
            ),
            "schedule_timezone": (
                EnvVar(SCHEDULE_TIMEZONE_ENV).get_value() or defaults.schedule_timezone
            ),
            "schedules_running": running in ("1", "true", "yes", "running"),
            "freshness_window": _hours(EnvVar(FRESHNESS_HOURS_ENV).get_value(), 26),
            "traffic_freshness_window": _hours(EnvVar(TRAFFIC_FRESHNESS_HOURS_ENV).get_value(), 2),
            "traffic_max_data_age": _hours(EnvVar(TRAFFIC_MAX_DATA_AGE_HOURS_ENV).get_value(), 48),
            "progress_seconds": float(
                EnvVar(PROGRESS_SECONDS_ENV).get_value() or defaults.progress_seconds
            ),
            "site_insights_start": date.fromisoformat(
                EnvVar(SITE_INSIGHTS_START_ENV).get_value()
                or defaults.site_insights_start.isoformat()
            ),
            "site_insights_today_cron": (
                EnvVar(SITE_INSIGHTS_TODAY_CRON_ENV).get_value()
                or defaults.site_insights_today_cron
            ),
            "site_insights_close_day_cron": (
                EnvVar(SITE_INSIGHTS_CLOSE_DAY_CRON_ENV).get_value()
                or defaults.site_insights_close_day_cron
            ),
            "models_automation_running": models_automation in ("1", "true", "yes", "running"),
            "models_automation_seconds": int(
                EnvVar(MODELS_AUTOMATION_SECONDS_ENV).get_value()
                or defaults.models_automation_seconds
            ),
            "alert_sensor_seconds": int(
                EnvVar(ALERT_SENSOR_SECONDS_ENV).get_value() or defaults.alert_sensor_seconds
            ),
        }
        return cls(**settings)

    @property
    def default_schedule_status(self) -> DefaultScheduleStatus:
        return (
            DefaultScheduleStatus.RUNNING
            if self.schedules_running
            else (DefaultScheduleStatus.STOPPED)
        )

    def freshness_window_for(self, table: str) -> timedelta:
        """How old a table's last successful load may be before it is stale."""
        return self.traffic_freshness_window if table in HOURLY_TABLES else self.freshness_window
