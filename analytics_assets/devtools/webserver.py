"""Run `dagster dev` for this repository as a child process: for the webserver smoke test and
the asset-graph screenshot.

Both need what a user gets from `dagster dev` (webserver, daemon, code server, run workers), not
an in-process imitation, so this starts the real command and talks to it over GraphQL. The
instance lives in a throwaway DAGSTER_HOME holding a copy of the repository's `dagster.yaml`, so
the pool limit and freshness settings apply and no run history leaks between sessions.

`dagster dev` keeps its children in its own process group (nothing in Dagster 1.13 calls
`setsid`), and on SIGINT it tells the webserver and daemon to stop, waits for them and closes
the code server. So the group is started in a new session and stopped the way a terminal's
Ctrl-C does it: SIGINT to the whole group, then SIGTERM, then SIGKILL only after timeouts.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
# Inherited variables with these prefixes could point the code location at a developer's GitBook,
# warehouse or instance; the caller's `env` is the only configuration the server sees.
ISOLATED_PREFIXES = ("GITBOOK_", "ANALYTICS_", "DAGSTER_", "SOURCES__", "DESTINATION__", "DLT_")
# A process started in the background of a non-interactive shell (`cmd &`, some CI runners)
# inherits SIGINT, and sometimes SIGTERM, as *ignored*; an ignored signal stays ignored across
# exec, and Python then installs no KeyboardInterrupt handler, so `dagster dev` would never hear
# the Ctrl-C below. This shim restores the default dispositions, then execs the real command.
RESET_SIGNALS_AND_EXEC = (
    "import os, signal, sys\n"
    "for sig in (signal.SIGINT, signal.SIGTERM):\n"
    "    signal.signal(sig, signal.SIG_DFL)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)
LOCATIONS_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { name repositories { name } }
          ... on PythonError { message }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""
LAUNCH_RUN_MUTATION = """
mutation LaunchRun($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
LAUNCH_BACKFILL_MUTATION = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""
BACKFILL_QUERY = """
query Backfill($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill { status runs(limit: 100) { runId status } }
    ... on Error { message }
  }
}
"""
RUN_STATUS_QUERY = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on Error { message }
  }
}
"""
RUN_ERRORS_QUERY = """
query RunErrors($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { level stepKey message }
        ... on ErrorEvent { error { message } }
      }
    }
    ... on Error { message }
  }
}
"""
KILL_WAIT = 10.0  # seconds for the kernel to reap a SIGKILLed group
TERMINAL_RUN_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
TERMINAL_BACKFILL_STATUSES = frozenset(
    {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
)


class DagsterDevError(RuntimeError):
    """`dagster dev` died, did not become ready in time, or failed to load the code location."""


class GraphQLError(RuntimeError):
    """The webserver answered with GraphQL `errors`."""


@dataclass(frozen=True)
class RepositorySelector:
    """What GraphQL needs to address the code location's repository."""

    location_name: str
    repository_name: str

    def as_dict(self) -> dict[str, str]:
        """GraphQL's `RepositorySelector` input."""
        return {
            "repositoryLocationName": self.location_name,
            "repositoryName": self.repository_name,
        }


@dataclass(frozen=True)
class Shutdown:
    """How the process group ended: the last signal it needed and what survived it."""

    signal: signal.Signals
    seconds: float
    leftover_pids: tuple[int, ...]
    stragglers: tuple[str, ...] = ()
    """Command lines of the processes that outlived SIGINT, for the report."""

    @property
    def clean(self) -> bool:
        return self.signal == signal.SIGINT and not self.leftover_pids


@dataclass
class DagsterDev:
    """A running `dagster dev`: its URL, GraphQL, and (after exit) how it shut down."""

    url: str
    home: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    shutdown: Shutdown | None = field(default=None, init=False)

    def graphql(
        self, query: str, variables: Mapping[str, Any] | None = None, timeout: float = 60.0
    ) -> dict[str, Any]:
        """The query's `data`; raises GraphQLError if the answer has `errors`."""
        return post_graphql(f"{self.url}/graphql", query, variables, timeout)

    def repository(self) -> RepositorySelector:
        """The single repository of the single code location that workspace.yaml loads."""
        entries = self.graphql(LOCATIONS_QUERY)["workspaceOrError"]["locationEntries"]
        (entry,) = entries
        (repository,) = entry["locationOrLoadError"]["repositories"]
        return RepositorySelector(entry["name"], repository["name"])

    def output_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def launch_job(self, job_name: str) -> str:
        """Launch a job of the code location, as the UI's Materialize button does; its run id."""
        selector = {**self.repository().as_dict(), "jobName": job_name}
        result = self.graphql(LAUNCH_RUN_MUTATION, {"params": {"selector": selector}})
        launched = result["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise DagsterDevError(f"launchRun of {job_name} failed: {json.dumps(launched)}")
        run_id: str = launched["run"]["runId"]
        return run_id

    def launch_backfill(
        self, asset_keys: Sequence[Sequence[str]], partitions: Sequence[str]
    ) -> str:
        """Backfill assets over partitions, as the UI's partition dialog does; the backfill id.

        The backfill daemon that `dagster dev` runs turns it into runs per the backfill policy.
        """
        params = {
            "assetSelection": [{"path": list(key)} for key in asset_keys],
            "partitionNames": list(partitions),
        }
        launched = self.graphql(LAUNCH_BACKFILL_MUTATION, {"params": params})
        launched = launched["launchPartitionBackfill"]
        if launched["__typename"] != "LaunchBackfillSuccess":
            raise DagsterDevError(f"launchPartitionBackfill failed: {json.dumps(launched)}")
        backfill_id: str = launched["backfillId"]
        return backfill_id

    def wait_for_backfill(
        self, backfill_id: str, timeout: float = 180.0
    ) -> tuple[str, list[dict[str, str]]]:
        """Poll until the backfill ends; its status and its runs (id and status)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.graphql(BACKFILL_QUERY, {"backfillId": backfill_id})
            backfill = found["partitionBackfillOrError"]
            if backfill["__typename"] != "PartitionBackfill":
                raise DagsterDevError(f"backfill {backfill_id}: {json.dumps(backfill)}")
            status: str = backfill["status"]
            if status in TERMINAL_BACKFILL_STATUSES:
                return status, list(backfill["runs"])
            if time.monotonic() > deadline:
                raise DagsterDevError(
                    f"backfill {backfill_id} still {status} after {timeout:.0f} s\n"
                    f"--- dagster dev output ---\n{self.output_tail()}"
                )
            time.sleep(1.0)

    def wait_for_run(self, run_id: str, timeout: float = 180.0) -> str:
        """Poll the run until it is SUCCESS, FAILURE or CANCELED; that status."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.graphql(RUN_STATUS_QUERY, {"runId": run_id})["runOrError"]
            if run["__typename"] != "Run":
                raise DagsterDevError(f"run {run_id}: {json.dumps(run)}")
            status: str = run["status"]
            if status in TERMINAL_RUN_STATUSES:
                return status
            if time.monotonic() > deadline:
                raise DagsterDevError(
                    f"run {run_id} still {status} after {timeout:.0f} s\n"
                    f"--- dagster dev output ---\n{self.output_tail()}"
                )
            time.sleep(1.0)

    def run_errors(self, run_id: str) -> list[str]:
        """The run's ERROR events (step and run failures with their cause), for messages."""
        logs = self.graphql(RUN_ERRORS_QUERY, {"runId": run_id})["logsForRun"]
        if logs["__typename"] != "EventConnection":
            return [json.dumps(logs)]
        return [
            f"{event.get('stepKey') or 'run'}: {event['message']} "
            f"{(event.get('error') or {}).get('message', '')}".strip()
            for event in logs["events"]
            if event.get("level") == "ERROR"
        ]


def post_graphql(
    endpoint: str, query: str, variables: Mapping[str, Any] | None = None, timeout: float = 60.0
) -> dict[str, Any]:
    """POST one GraphQL request with the standard library; `data`, or GraphQLError."""
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    request = urllib.request.Request(
        endpoint, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.load(response)
    except urllib.error.HTTPError as error:  # GraphQL validation errors come back as 400
        payload = json.loads(error.read() or b"{}")
        if not payload.get("errors"):
            raise
    if payload.get("errors"):
        raise GraphQLError(json.dumps(payload["errors"], indent=2))
    data: dict[str, Any] = payload["data"]
    return data


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def dagster_executable() -> Path:
    """`dagster` next to the running interpreter, i.e. from the same venv."""
    return Path(sys.executable).parent / "dagster"


def server_environment(home: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The inherited environment without project/instance settings, plus DAGSTER_HOME and env."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(ISOLATED_PREFIXES)}
    return {**inherited, "DAGSTER_HOME": str(home), "PYTHONUNBUFFERED": "1", **env}


def start_process(home: Path, port: int, env: Mapping[str, str], root: Path) -> DagsterDev:
    """Start `dagster dev` in its own session, its output going to a file under `home`."""
    log_path = home / "dagster-dev.log"
    command = [
        sys.executable,
        "-c",
        RESET_SIGNALS_AND_EXEC,
        str(dagster_executable()),
        "dev",
        "-w",
        str(root / "workspace.yaml"),
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=server_environment(home, env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return DagsterDev(f"http://{HOST}:{port}", home, log_path, process)


def locations_loaded(server: DagsterDev) -> bool:
    """Whether every code location has loaded; raises if one failed to load."""
    try:
        workspace = server.graphql(LOCATIONS_QUERY, timeout=5.0)["workspaceOrError"]
    except (OSError, GraphQLError, ValueError):
        return False  # not listening yet, or still starting up
    if workspace["__typename"] != "Workspace":
        return False
    entries = workspace["locationEntries"]
    if not entries or any(entry["loadStatus"] != "LOADED" for entry in entries):
        return False
    for entry in entries:
        located = entry["locationOrLoadError"]
        if located["__typename"] == "PythonError":
            raise DagsterDevError(
                f"code location {entry['name']} failed to load:\n{located['message']}\n"
                f"--- dagster dev output ---\n{server.output_tail()}"
            )
    return True


def wait_until_ready(server: DagsterDev, timeout: float) -> None:
    """Poll GraphQL until every code location is loaded; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise DagsterDevError(
                f"dagster dev exited with {server.process.returncode} before it was ready\n"
                f"--- dagster dev output ---\n{server.output_tail()}"
            )
        if locations_loaded(server):
            return
        time.sleep(0.5)
    raise DagsterDevError(
        f"dagster dev did not answer GraphQL at {server.url} within {timeout:.0f} s\n"
        f"--- dagster dev output ---\n{server.output_tail()}"
    )


def group_members(pgid: int) -> tuple[int, ...]:
    """Live (non-zombie) processes in the process group, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        # Fields after the parenthesised command: state, ppid, pgrp, ...
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry.name))
    return tuple(sorted(members))


def command_lines(pids: Iterable[int]) -> tuple[str, ...]:
    """Each live process's command line, shortened (instance refs are kilobytes of JSON)."""
    lines = []
    for pid in pids:
        with contextlib.suppress(OSError):
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            lines.append(f"{pid}: {command.decode(errors='replace')[:200]}")
    return tuple(lines)


def wait_for_group(process: subprocess.Popen[bytes], pgid: int, timeout: float) -> bool:
    """Wait until the leader is reaped and no other member of its group is alive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.poll()
        if process.returncode is not None and not group_members(pgid):
            return True
        time.sleep(0.2)
    return False


def stop_group(process: subprocess.Popen[bytes], timeout: float = 60.0) -> Shutdown:
    """SIGINT the group like Ctrl-C, then SIGTERM, then SIGKILL, each after `timeout` s."""
    pgid = process.pid  # start_new_session: the leader's pid is the group id
    started = time.monotonic()
    stragglers: tuple[str, ...] = ()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):  # the whole group is already gone
            os.killpg(pgid, sig)
        if wait_for_group(process, pgid, timeout if sig != signal.SIGKILL else KILL_WAIT):
            return Shutdown(sig, time.monotonic() - started, (), stragglers)
        stragglers = stragglers or command_lines(group_members(pgid))
    leftovers = group_members(pgid)
    return Shutdown(signal.SIGKILL, time.monotonic() - started, leftovers, stragglers)


@contextmanager
def dagster_dev(
    env: Mapping[str, str],
    *,
    root: Path = REPO_ROOT,
    port: int | None = None,
    startup_timeout: float = 180.0,
    shutdown_timeout: float = 60.0,
    instance_overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[DagsterDev]:
    """`dagster dev` on `root`'s workspace.yaml with a temporary DAGSTER_HOME and `env`.

    The instance is `root`'s dagster.yaml, with `instance_overrides` merged into its sections
    (test-sized intervals). Yields once the code location is loaded; on exit stops the whole
    process group and records how in `DagsterDev.shutdown`.
    """
    with tempfile.TemporaryDirectory(
        prefix="dagster-home-", ignore_cleanup_errors=True
    ) as home_dir:
        home = Path(home_dir)
        settings = yaml.safe_load((root / "dagster.yaml").read_text())
        for section, values in (instance_overrides or {}).items():
            settings[section] = {**settings.get(section, {}), **values}
        (home / "dagster.yaml").write_text(yaml.safe_dump(settings))
        server = start_process(home, port or free_port(), env, root)
        try:
            wait_until_ready(server, startup_timeout)
            yield server
        finally:
            server.shutdown = stop_group(server.process, shutdown_timeout)
