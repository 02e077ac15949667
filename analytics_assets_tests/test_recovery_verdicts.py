"""The recovery's judgments one by one: which holder of a pool slot is dead, alive or unknown,
and what the next run does about it (the CLI and daemon tests show them end to end)."""

import os
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest
from dagster import DagsterRun, DagsterRunStatus

from analytics_assets.defs.recovery.stale_claims import verdict
from analytics_assets.defs.recovery.worker import Worker

NOW = 1_000_000.0


def run(status: DagsterRunStatus, max_runtime: str | None = None) -> DagsterRun:
    tags = {"dagster/max_runtime": max_runtime} if max_runtime else {}
    return DagsterRun("gitbook_full_sync", status=status, tags=tags)


def judge(holder: DagsterRun | None, **overrides: Any) -> str:
    settings: dict[str, Any] = {
        "holds_slot": True,
        "started": NOW - 60,
        "ended": None,
        "alive": None,
        "child_alive": False,
        "monitored": False,
        "now": NOW,
    } | overrides
    return verdict(holder, **settings)[0]


STARTED, FAILURE = DagsterRunStatus.STARTED, DagsterRunStatus.FAILURE


@pytest.mark.parametrize(
    ("holder", "overrides", "expected"),
    [
        (None, {}, "free"),  # a deleted run's claims
        (run(FAILURE), {"alive": False}, "free"),
        (run(FAILURE), {"alive": True}, "wait"),  # its worker is still exiting
        (run(FAILURE), {"ended": NOW - 10}, "wait"),  # elsewhere, just ended
        (run(FAILURE), {"ended": NOW - 10, "monitored": True}, "wait"),
        (run(FAILURE), {"ended": NOW - 3600}, "free"),
        (run(STARTED), {"alive": False}, "dead"),
        (run(STARTED), {"alive": False, "child_alive": True}, "wait"),  # dbt still writes
        (run(STARTED), {"alive": True}, "wait"),
        (run(STARTED, "30"), {"alive": True}, "stuck"),  # holds its slot past its max runtime
        (run(STARTED, "30"), {"alive": True, "holds_slot": False}, "wait"),  # only queued
        (run(STARTED), {"monitored": True}, "wait"),  # elsewhere, a daemon watches it
        (run(STARTED), {}, "stuck"),  # elsewhere, nobody watches it
    ],
)
def test_each_holder_gets_the_documented_verdict(
    holder: DagsterRun | None, overrides: dict[str, Any], expected: str
) -> None:
    assert judge(holder, **overrides) == expected


def test_a_worker_is_alive_only_as_this_very_process_of_this_boot() -> None:
    me = Worker.current()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        other = Worker.of(child.pid)
        assert other.is_alive() is True and Worker.from_tag(other.to_tag()) == other
    finally:
        child.kill()
        child.wait()
    assert other.is_alive() is False  # gone, and reaped
    assert me.is_alive() is True
    assert replace(me, start_ticks="1").is_alive() is False  # the pid now names a younger process
    assert replace(me, boot_id="an-earlier-boot").is_alive() is False  # rebooted since
    assert replace(me, host="another-host").is_alive() is None
    assert replace(me, machine_id="another-machine").is_alive() is None
    assert replace(me, pid_ns="pid:[1]").is_alive() is None  # another container's pids
    assert Worker.from_tag("not a worker") is None
    assert me.pid == os.getpid()
