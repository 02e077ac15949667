"""deploy/: the production instance runs a real sync on PostgreSQL; the Helm values agree with it.

The instance is loaded from a copy of deploy/dagster.yaml, as a webserver, daemon or run worker
loads it: `DAGSTER_HOME` plus the DAGSTER_PG_* variables. What the run recorded is read back from
PostgreSQL itself, not through Dagster's storage classes.
"""

import itertools
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import psycopg2
import pytest
import yaml
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    QueuedRunCoordinator,
    definitions,
    multiprocess_executor,
)
from dagster._core.storage.tags import CODE_LOCATION_TAG
from dagster._utils.tags import TagConcurrencyLimitsCounter
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from analytics_assets.definitions import defs
from analytics_assets.defs.jobs.jobs import FULL_SYNC_JOB_NAME, SITE_INSIGHTS_JOB_NAME
from analytics_assets.defs.sync.assets import CONCURRENCY_POOL
from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI
from analytics_assets_tests.harness import TEST_TOKEN
from analytics_assets_tests.postgres import PostgresServer

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


@definitions
def multiprocess_defs() -> Definitions:
    """The code location as shipped, but every step in a process of its own, so several processes
    write one run's events and pool slots: what a shared PostgreSQL instance is for."""
    shipped = defs()
    return Definitions(
        assets=shipped.assets,
        asset_checks=shipped.asset_checks,
        jobs=shipped.jobs,
        schedules=shipped.schedules,
        sensors=shipped.sensors,
        resources=shipped.resources,
        executor=multiprocess_executor,
    )


@pytest.fixture
def instance_env(
    postgres_server: PostgresServer,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """DAGSTER_HOME holding a copy of deploy/dagster.yaml, and the DAGSTER_PG_* variables it reads
    (also set in this process, for DagsterInstance.get())."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": postgres_server.host,
        "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_USERNAME": postgres_server.user,
        "DAGSTER_PG_PASSWORD": postgres_server.password,
        "DAGSTER_PG_DB": urlsplit(postgres_url).path.lstrip("/"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_multiprocess_sync_is_recorded_in_postgres(
    instance_env: dict[str, str],
    postgres_server: PostgresServer,
    fake_api: FakeGitBookAPI,
    dataset: Dataset,
    tmp_path: Path,
) -> None:
    job = defs().resolve_job_def(FULL_SYNC_JOB_NAME)
    assets = job.asset_layer.selected_asset_keys
    checks = [
        key for key in job.asset_layer.asset_graph.asset_check_keys if key.asset_key in assets
    ]
    steps = {node.name for node in job.nodes}  # the sync op and the checks' op
    duckdb_path = tmp_path / "warehouse.duckdb"
    env = {
        **os.environ,
        **instance_env,
        "GITBOOK_ACCESS_TOKEN": TEST_TOKEN,
        "GITBOOK_BASE_URL": fake_api.base_url,
        "ANALYTICS_DUCKDB_PATH": str(duckdb_path),
        "ANALYTICS_DLT_PIPELINES_DIR": str(tmp_path / "pipelines"),
        "ANALYTICS_SITE_INSIGHTS_START_DATE": "2024-06-01",
    }
    # Two step processes may run at once; forkserver imports the code once, not once per step.
    executor_config = {"max_concurrent": 2, "start_method": {"forkserver": {}}}
    run_config = tmp_path / "run_config.yaml"
    run_config.write_text(yaml.safe_dump({"execution": {"config": executor_config}}))
    location = ["-m", __name__, "-a", "multiprocess_defs"]
    command = [
        sys.executable, "-m", "dagster", "job", "execute", *location,
        "-j", FULL_SYNC_JOB_NAME, "-c", str(run_config),
    ]  # fmt: skip
    # A site insights day started while the sync writes: another process of another run, which
    # the pool's one slot (kept in PostgreSQL) must hold back.
    day = [
        sys.executable, "-m", "dagster", "asset", "materialize", *location,
        "--select", "gitbook/site_insights_daily", "--partition", "2024-06-30",
    ]  # fmt: skip

    def query(sql: str) -> list[tuple[object, ...]]:
        return postgres_server.query(instance_env["DAGSTER_PG_DB"], sql)

    def start(args: list[str]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def step_started() -> bool:
        try:
            return bool(query("select 1 from event_logs where dagster_event_type = 'STEP_START'"))
        except psycopg2.errors.UndefinedTable:  # the run worker has not created the instance yet
            return False

    fake_api.latency = 0.05  # the sync holds the slot for seconds, not a blink
    started = time.monotonic()
    worker = start(command)
    deadline = time.monotonic() + 120
    while not step_started():
        assert worker.poll() is None and time.monotonic() < deadline, "the sync never started"
        time.sleep(0.2)
    neighbour = start(day)
    output = worker.communicate(timeout=300)[0]
    assert worker.returncode == 0, output[-3000:]
    print(f"multiprocess sync: {time.monotonic() - started:.1f} s")
    neighbour_output = neighbour.communicate(timeout=300)[0]
    assert neighbour.returncode == 0, neighbour_output[-3000:]

    statuses = query("select pipeline_name, status from runs order by create_timestamp")
    assert statuses[0] == (FULL_SYNC_JOB_NAME, DagsterRunStatus.SUCCESS.value)
    assert [status for _, status in statuses] == [DagsterRunStatus.SUCCESS.value] * 2
    this_run = f"run_id = (select run_id from runs where pipeline_name = '{FULL_SYNC_JOB_NAME}')"
    counts = Counter(
        dict(
            query(
                f"select dagster_event_type, count(*) from event_logs where {this_run} group by 1"
            )
        )
    )
    assert counts["ASSET_MATERIALIZATION"] == len(assets)
    assert counts["STEP_SUCCESS"] == counts["STEP_WORKER_STARTED"] == len(steps)
    assert counts["STEP_FAILURE"] == 0
    assert counts["ASSET_CHECK_EVALUATION"] == len(checks)
    materialized = query(
        f"select asset_key from event_logs where {this_run} "
        "and dagster_event_type = 'ASSET_MATERIALIZATION'"
    )
    assert sorted(row[0] for row in materialized) == sorted(key.to_string() for key in assets)

    # The run worker (the CLI process) started the run; each step ran in a process of its own.
    pids = dict(
        query(
            "select coalesce(step_key, 'run'), event::jsonb -> 'dagster_event' ->> 'pid' "
            f"from event_logs where {this_run} and dagster_event_type in "
            f"('{DagsterEventType.RUN_START.value}', '{DagsterEventType.STEP_START.value}')"
        )
    )
    assert pids.pop("run") == str(worker.pid)
    assert set(pids) == steps
    assert len(set(pids.values())) == len(steps) and str(worker.pid) not in pids.values()

    # Two runs' processes wanted the pool at once, and its one slot (kept in PostgreSQL) ran
    # their steps one at a time.
    spans = query(
        "select min(timestamp), max(timestamp) from event_logs "
        "where dagster_event_type in ('STEP_START', 'STEP_SUCCESS') "
        "group by run_id, step_key order by 1"
    )
    day_steps = {node.name for node in defs().resolve_job_def(SITE_INSIGHTS_JOB_NAME).nodes}
    assert len(spans) == len(steps) + len(day_steps)
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans))
    blocked = query(
        "select count(*) from event_logs where "
        f"event::jsonb ->> 'user_message' like '%blocked by limit for pool {CONCURRENCY_POOL}%'"
    )
    assert blocked[0][0] > 0

    expected = dataset.expected_row_counts()
    histories = {"org_members_history", "spaces_history", "sites_history"}
    assert set(expected) == {key.path[-1] for key in assets} - histories
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        rows = {
            t: con.execute(f"select count(*) from gitbook.{t}").fetchall()[0][0] for t in expected
        }
    assert rows == expected


def test_instance_queues_runs_within_the_pipeline_limits(instance_env: dict[str, str]) -> None:
    with DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert not instance.telemetry_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 300
        # What the daemon's run queue and the executors read.
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 1
        queue = concurrency.run_queue_config
        assert queue is not None and queue.max_concurrent_runs == 10
        per_location = {"key": CODE_LOCATION_TAG, "value": {"applyLimitPerUniqueValue": True}}
        assert queue.tag_concurrency_limits == [{**per_location, "limit": 1}]

    # Fed to the daemon's own counter: while one sync is in progress, the next run of the same
    # code location waits, and another code location's run does not.
    runs = [
        DagsterRun(FULL_SYNC_JOB_NAME, tags={CODE_LOCATION_TAG: location})
        for location in ("analytics-assets", "analytics-assets", "another-location")
    ]
    counter = TagConcurrencyLimitsCounter(queue.tag_concurrency_limits, [runs[0]])
    assert [counter.is_blocked(run) for run in runs[1:]] == [True, False]


def test_helm_values_match_the_instance_and_map_the_secrets() -> None:
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    secrets = {
        doc["metadata"]["name"]: doc["stringData"]
        for doc in yaml.safe_load_all((DEPLOY / "k8s-secret.example.yaml").read_text())
    }
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    (secret,) = [secrets[ref["name"]] for ref in deployment["envSecrets"]]
    env = {item["name"]: item["value"] for item in deployment["env"]}
    helm_concurrency = values["concurrency"]

    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["dagsterDaemon"]["enabled"]
    assert values["dagsterDaemon"]["runCoordinator"] == {
        "enabled": True,
        "type": "QueuedRunCoordinator",
    }
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "analytics_assets.definitions"]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert {"GITBOOK_ACCESS_TOKEN", "DESTINATION__POSTGRES__CREDENTIALS"} <= set(secret)
    assert env["ANALYTICS_DESTINATION"] == "postgres"
    assert "postgresql-password" in secrets[values["global"]["postgresqlSecretName"]]
    assert (
        values["postgresql"]["postgresqlScheme"]
        == (instance["storage"]["postgres"]["postgres_db"]["scheme"])
    )
    assert helm_concurrency["enabled"]
    assert {
        "default_limit": helm_concurrency["pools"]["defaultLimit"],
        "max_concurrent_runs": helm_concurrency["runs"]["maxConcurrentRuns"],
        "tag_concurrency_limits": helm_concurrency["runs"]["tagConcurrencyLimits"],
        "telemetry": values["telemetry"]["enabled"],
    } == {
        "default_limit": instance["concurrency"]["pools"]["default_limit"],
        "max_concurrent_runs": instance["concurrency"]["runs"]["max_concurrent_runs"],
        "tag_concurrency_limits": instance["concurrency"]["runs"]["tag_concurrency_limits"],
        "telemetry": instance["telemetry"]["enabled"],
    }
