"""Schedules, freshness policies and the concurrency pool, as Dagster loads them."""

import itertools
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    build_schedule_context,
)
from dagster._core.definitions.freshness import TimeWindowFreshnessPolicy

from analytics_assets.definitions import defs
from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI
from analytics_assets.gitbook.settings import RESOURCES
from analytics_assets.settings import SITE_INSIGHTS_NAMES
from analytics_assets_tests.harness import ALL_CHECKS, RAW_CHECKS, TEST_TOKEN

REPO_ROOT = Path(__file__).resolve().parents[1]
TABLES = tuple(spec.name for spec in RESOURCES)  # the unpartitioned tables of the main sync


def key(name: str) -> AssetKey:
    return AssetKey(["gitbook", name])


def test_schedules_default_to_documented_crons_in_utc_and_start_stopped() -> None:
    schedules = {s.name: s for s in defs().schedules}

    daily = schedules["gitbook_daily_full_sync"]
    hourly = schedules["gitbook_hourly_traffic_sync"]
    assert (daily.cron_schedule, hourly.cron_schedule) == ("0 3 * * *", "15 * * * *")
    assert daily.execution_timezone == hourly.execution_timezone == "UTC"
    assert daily.default_status == hourly.default_status == DefaultScheduleStatus.STOPPED


def test_schedule_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTICS_FULL_SYNC_CRON", "30 1 * * *")
    monkeypatch.setenv("ANALYTICS_TRAFFIC_SYNC_CRON", "*/30 * * * *")
    monkeypatch.setenv("ANALYTICS_SCHEDULE_TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("ANALYTICS_SCHEDULES_RUNNING", "true")

    schedules = {s.name: s for s in defs().schedules}

    assert schedules["gitbook_daily_full_sync"].cron_schedule == "30 1 * * *"
    assert schedules["gitbook_hourly_traffic_sync"].cron_schedule == "*/30 * * * *"
    assert {s.execution_timezone for s in schedules.values()} == {"Europe/Paris"}
    assert {s.default_status for s in schedules.values()} == {DefaultScheduleStatus.RUNNING}


def test_jobs_select_all_assets_and_traffic_with_its_parents() -> None:
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    full = definitions.resolve_job_def("gitbook_full_sync")
    traffic = definitions.resolve_job_def("gitbook_traffic_sync")

    histories = ("org_members_history", "spaces_history", "sites_history")
    assert full.asset_layer.selected_asset_keys == {key(t) for t in (*TABLES, *histories)}
    assert traffic.asset_layer.selected_asset_keys == {
        key("organizations"),
        key("spaces"),
        key("insights_traffic"),
    }
    # Asset jobs run the checks of what they select, in one step after the sync.
    assert {node.name for node in full.nodes} == {"gitbook", "gitbook_checks"}
    full_checked = {k.asset_key for k in full.asset_layer.asset_graph.asset_check_keys}
    assert full_checked == {key(t) for t in (*TABLES, *histories)}
    traffic_checked = {k.asset_key for k in traffic.asset_layer.asset_graph.asset_check_keys}
    assert traffic_checked == {key("organizations"), key("spaces"), key("insights_traffic")}
    raw_checks = [k for k in graph.asset_check_keys if k.asset_key.path[0] == "gitbook"]
    assert len(raw_checks) == RAW_CHECKS and len(graph.asset_check_keys) == ALL_CHECKS
    # The partitioned site insights have a job of their own, with their checks.
    insights = definitions.resolve_job_def("gitbook_site_insights_sync")
    assert insights.asset_layer.selected_asset_keys == {key(t) for t in SITE_INSIGHTS_NAMES}
    assert insights.partitions_def is not None
    assert {node.name for node in insights.nodes} == {
        "gitbook_site_insights",
        "site_insights_checks",
    }


def test_every_asset_has_a_freshness_policy_with_configurable_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def windows() -> dict[str, timedelta]:
        graph = defs().resolve_asset_graph()
        policies = {t: graph.get(key(t)).freshness_policy for t in TABLES}
        assert all(isinstance(p, TimeWindowFreshnessPolicy) for p in policies.values())
        return {t: p.fail_window.to_timedelta() for t, p in policies.items()}  # type: ignore[union-attr]

    defaults = windows()
    assert defaults["insights_traffic"] == timedelta(hours=2)
    assert {defaults[t] for t in TABLES if t != "insights_traffic"} == {timedelta(hours=26)}

    monkeypatch.setenv("ANALYTICS_TRAFFIC_FRESHNESS_HOURS", "1")
    monkeypatch.setenv("ANALYTICS_FRESHNESS_HOURS", "50")
    changed = windows()
    assert changed["insights_traffic"] == timedelta(hours=1)
    assert changed["users"] == timedelta(hours=50)


def test_definitions_expose_schedules_freshness_and_every_check() -> None:
    definitions = defs()
    graph = definitions.resolve_asset_graph()

    assert {s.name for s in definitions.schedules} == {
        "gitbook_daily_full_sync",
        "gitbook_hourly_traffic_sync",
        "gitbook_hourly_site_insights_today",
        "gitbook_daily_site_insights_close_day",
    }
    histories = ("org_members_history", "spaces_history", "sites_history")
    checks_per_table = {t: 0 for t in (*TABLES, *SITE_INSIGHTS_NAMES, *histories)}
    for check_key in graph.asset_check_keys:
        if check_key.asset_key.path[0] == "gitbook":  # the dbt tests: test_models.py
            checks_per_table[check_key.asset_key.path[-1]] += 1
    # The dbt models' automation and the dead-run recovery (both running: they call no API);
    # the alert sensors only when ANALYTICS_ALERT_WEBHOOK_URL is set (test_alert_sensors...).
    assert [s.name for s in definitions.sensors] == [
        "gitbook_models_automation",
        "gitbook_dead_run_recovery",
    ]
    assert checks_per_table == {
        "users": 5,
        "organizations": 5,
        "spaces": 6,
        "org_members": 6,
        "sites": 6,
        "content": 6,
        "insights_traffic": 8,
        **dict.fromkeys(SITE_INSIGHTS_NAMES, 7),
        **dict.fromkeys(histories, 3),
    }


def test_alert_sensors_exist_and_run_only_when_a_webhook_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANALYTICS_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("ANALYTICS_ALERT_SENSOR_SECONDS", "120")

    sensors = {s.name: s for s in defs().sensors}

    alerts = {"gitbook_run_failure_alerts", "gitbook_freshness_alerts"}
    assert alerts < set(sensors)
    assert {sensors[name].default_status for name in alerts} == {DefaultSensorStatus.RUNNING}
    assert {sensors[name].minimum_interval_seconds for name in alerts} == {120}


def test_sync_jobs_carry_a_max_runtime_and_scheduled_days_a_shorter_one() -> None:
    definitions = defs()
    runtimes = {
        name: definitions.resolve_job_def(name).tags.get("dagster/max_runtime")
        for name in ("gitbook_full_sync", "gitbook_traffic_sync", "gitbook_site_insights_sync")
    }
    assert runtimes == {
        "gitbook_full_sync": "7200",
        "gitbook_traffic_sync": "3600",
        "gitbook_site_insights_sync": "21600",
    }
    assert definitions.resolve_job_def("gitbook_models").tags["dagster/max_runtime"] == "3600"
    schedule = {s.name: s for s in definitions.schedules}["gitbook_hourly_site_insights_today"]
    tick = datetime(2026, 11, 26, 13, 25, tzinfo=timezone.utc)
    repository = definitions.get_repository_def()
    with build_schedule_context(
        scheduled_execution_time=tick, repository_def=repository
    ) as context:
        (request,) = schedule.evaluate_tick(context).run_requests or []
    assert request.partition_key == "2026-11-26"
    assert request.tags["dagster/max_runtime"] == "3600"


def test_overlapping_runs_queue_on_the_pool_instead_of_writing_at_once(tmp_path: Path) -> None:
    """Two syncs launched together, as two schedule ticks would be: the pool serializes them."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    DagsterInstance.from_config(str(home)).dispose()  # create its storage once, as a deployment has
    dataset = Dataset.demo()
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, latency=0.02) as api:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "GITBOOK_ACCESS_TOKEN": TEST_TOKEN,
            "GITBOOK_BASE_URL": api.base_url,
            "ANALYTICS_DUCKDB_PATH": str(tmp_path / "shared.duckdb"),
            "ANALYTICS_DLT_PIPELINES_DIR": str(tmp_path / "pipelines"),
        }
        command = [
            sys.executable, "-m", "dagster", "job", "execute",
            "-m", "analytics_assets.definitions", "-j", "gitbook_full_sync",
        ]  # fmt: skip
        runs = [
            subprocess.Popen(
                command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            for _ in range(2)
        ]
        outputs = [run.communicate(timeout=300)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    # The waiting run saw a live holder: it waited, and freed nothing.
    assert not any("Freed the pool slots" in output for output in outputs)

    with DagsterInstance.from_config(str(home)) as instance:
        records = instance.get_run_records()
        assert len(records) == 2
        intervals = []
        blocked: set[str | None] = set()
        for record in records:
            starts, ends = {}, {}
            for event in instance.all_logs(record.dagster_run.run_id):
                if event.dagster_event is None or event.step_key is None:
                    continue
                if event.dagster_event.event_type == DagsterEventType.STEP_START:
                    starts[event.step_key] = event.timestamp
                if event.dagster_event.event_type == DagsterEventType.STEP_SUCCESS:
                    ends[event.step_key] = event.timestamp
            assert set(starts) == set(ends) and "gitbook" in starts
            blocked |= {
                event.step_key
                for event in instance.all_logs(record.dagster_run.run_id)
                if "Step blocked by limit for pool gitbook_dlt_pipeline" in event.user_message
            }
            intervals += [(starts[s], ends[s], record.dagster_run.run_id) for s in starts]
    assert "gitbook" in blocked, "one run's sync waited for the other's to release the pool"
    # The sync and every check hold the pool: no two steps of either run overlap in time.
    intervals.sort()
    assert all(nxt[0] >= cur[1] for cur, nxt in itertools.pairwise(intervals))
    assert {run for *_, run in intervals} == {r.dagster_run.run_id for r in records}
    with duckdb.connect(str(tmp_path / "shared.duckdb"), read_only=True) as con:
        counts = {
            t: con.execute(f"select count(*) from gitbook.{t}").fetchall()[0][0] for t in TABLES
        }
    assert counts == dataset.expected_row_counts(traffic=False)  # today's API: no traffic
