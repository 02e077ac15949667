"""A user's headless setup: the real `dagster` CLI on a real instance made from the repository's
`dagster.yaml`, pointed at the bundled API, loading a DuckDB file. For the recovery and alert
tests, which need what cron or CI runs, not `execute_in_process`."""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from dagster import DagsterInstance, DagsterRun

from analytics_assets.defs.jobs.jobs import FULL_SYNC_JOB_NAME
from analytics_assets.defs.resources import (
    BASE_URL_ENV,
    DUCKDB_PATH_ENV,
    PIPELINES_DIR_ENV,
    TOKEN_ENV,
)
from analytics_assets.devtools.fake_api import FakeGitBookAPI
from analytics_assets_tests.harness import TEST_TOKEN

REPO = Path(__file__).resolve().parents[1]
DAGSTER = str(Path(sys.executable).parent / "dagster")
DEFINITIONS = ("-m", "analytics_assets.definitions")
POOL = "gitbook_dlt_pipeline"


@dataclass
class Headless:
    api: FakeGitBookAPI
    root: Path
    env: dict[str, str]

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def duckdb_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    def command(self, args: Sequence[str], kill_at: str | None = None) -> list[str]:
        if kill_at is None:
            return [DAGSTER, *args]
        return [sys.executable, "-m", "analytics_assets_tests.killed_cli", kill_at, *args]

    def run(
        self, *args: str, kill_at: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """`dagster ARGS...` (killed at `kill_at`, see killed_cli.py)."""
        return self._complete(self.command(args, kill_at), env)

    def run_module(self, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`python -m MODULE ARGS...`, as a user runs this project's own commands."""
        return self._complete([sys.executable, "-m", module, *args], {})

    def _complete(
        self, command: list[str], env: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            cwd=REPO,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=600,
        )

    def sync(self, job: str = FULL_SYNC_JOB_NAME, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run("job", "execute", *DEFINITIONS, "-j", job, **env)

    def kill_when(
        self, args: Sequence[str], ready: Callable[[], bool], timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Start the CLI, and SIGKILL it from outside once `ready()` holds."""
        process = subprocess.Popen(
            self.command(args),
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while not ready() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate(timeout=30)
        return subprocess.CompletedProcess(process.args, process.returncode, output, "")

    @contextmanager
    def instance(self) -> Iterator[DagsterInstance]:
        with DagsterInstance.from_config(str(self.home)) as instance:
            yield instance

    def runs(self) -> list[DagsterRun]:
        """Oldest first."""
        with self.instance() as instance:
            return list(reversed(instance.get_runs()))

    def slots_held(self) -> int:
        with self.instance() as instance:
            return len(instance.event_log_storage.get_concurrency_info(POOL).claimed_slots)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()

    def count(self, table: str) -> int:
        return int(self.query(f"select count(*) from gitbook.{table}")[0][0])


def headless(api: FakeGitBookAPI, root: Path, **env: str) -> Headless:
    """DAGSTER_HOME holds a copy of the repository's dagster.yaml; its storage is created once
    before any run, as docs/operating.md tells users to (there with `dagster instance migrate`)."""
    home = root / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    settings = {
        **os.environ,
        BASE_URL_ENV: api.base_url,
        TOKEN_ENV: TEST_TOKEN,
        DUCKDB_PATH_ENV: str(root / "warehouse.duckdb"),
        PIPELINES_DIR_ENV: str(root / "pipelines"),
        "DAGSTER_HOME": str(home),
        **env,
    }
    setup = Headless(api, root, settings)
    with setup.instance():
        pass
    return setup
