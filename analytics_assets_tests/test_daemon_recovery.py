"""A run whose worker is killed under the daemon: `dagster dev` with the repository's instance
settings (monitoring intervals shortened for the test), driven only through GraphQL.

The killed run must be marked failed, its pool slot freed, the run queued behind it must
complete with exact tables, and the webhook must hear of the killed run exactly once.
"""

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from dagster import DagsterInstance

from analytics_assets.defs.alerts.webhook import ALERT_WEBHOOK_ENV
from analytics_assets.defs.jobs.jobs import FULL_SYNC_JOB_NAME
from analytics_assets.defs.models.project import TARGET_PATH_ENV
from analytics_assets.defs.recovery.worker import WORKER_TAG, Worker
from analytics_assets.defs.resources import (
    BASE_URL_ENV,
    DUCKDB_PATH_ENV,
    PIPELINES_DIR_ENV,
    TOKEN_ENV,
)
from analytics_assets.devtools.fake_api import TODAY_API, Dataset, FakeGitBookAPI
from analytics_assets.devtools.webserver import dagster_dev
from analytics_assets.settings import ALERT_SENSOR_SECONDS_ENV, MODELS_AUTOMATION_ENV
from analytics_assets_tests.harness import SHARED_DBT_TARGET, TEST_TOKEN
from analytics_assets_tests.headless import POOL
from analytics_assets_tests.webhook_receiver import webhook_receiver

# The repository's dagster.yaml polls every 30 s and frees a dead run's slots 30 s after it
# ended; the same settings, a few seconds each.
TEST_MONITORING = {"poll_interval_seconds": 2, "free_slots_after_run_end_seconds": 2}


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_killed_run_worker_is_failed_and_the_queued_run_completes(tmp_path: Path) -> None:
    duckdb_path = tmp_path / "warehouse.duckdb"
    dataset = Dataset.demo()
    with (
        webhook_receiver() as receiver,
        FakeGitBookAPI(dataset, token=TEST_TOKEN, api_version=TODAY_API, latency=0.2) as api,
    ):
        env = {
            BASE_URL_ENV: api.base_url,
            TOKEN_ENV: TEST_TOKEN,
            DUCKDB_PATH_ENV: str(duckdb_path),
            PIPELINES_DIR_ENV: str(tmp_path / "dlt_pipelines"),
            TARGET_PATH_ENV: str(SHARED_DBT_TARGET),  # dbt's manifest, parsed once per session
            "DLT_DATA_DIR": str(tmp_path / "dlt_data"),
            ALERT_WEBHOOK_ENV: receiver.url,
            ALERT_SENSOR_SECONDS_ENV: "2",
            MODELS_AUTOMATION_ENV: "false",  # only the runs this test launches
        }
        with (
            dagster_dev(env, instance_overrides={"run_monitoring": TEST_MONITORING}) as dev,
            DagsterInstance.from_config(str(dev.home)) as instance,
        ):
            first = dev.launch_job(FULL_SYNC_JOB_NAME)

            def holds_slot() -> bool:
                claims = instance.event_log_storage.get_concurrency_info(POOL).claimed_slots
                run = instance.get_run_by_id(first)
                return any(c.run_id == first for c in claims) and WORKER_TAG in run.tags

            wait_for(holds_slot, 120, "the first run to hold the pool slot")
            worker = Worker.from_tag(instance.get_run_by_id(first).tags[WORKER_TAG])
            assert worker is not None and worker.pid != os.getpid()
            os.kill(worker.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            second = dev.launch_job(FULL_SYNC_JOB_NAME)

            assert dev.wait_for_run(first, timeout=120) == "FAILURE"
            assert dev.wait_for_run(second, timeout=240) == "SUCCESS", dev.run_errors(second)
            print(f"kill to next green run under the daemon: {time.monotonic() - killed_at:.1f} s")
            wait_for(lambda: len(receiver.posts) >= 1, 60, "the alert of the killed run")
            time.sleep(3)  # a second alert would come from the next sensor tick

    (text,) = receiver.texts()
    assert first in text and FULL_SYNC_JOB_NAME in text and second not in text
    assert TEST_TOKEN not in text
    expected = api.expected_row_counts()
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        counts = {
            t: con.execute(f"select count(*) from gitbook.{t}").fetchone()[0] for t in expected
        }
    assert counts == expected
