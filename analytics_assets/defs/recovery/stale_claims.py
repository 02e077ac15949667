"""Find the runs that hold pool slots, decide which of them are dead, and free what they hold.

Dagster's concurrency pools keep a slot claimed until the step that claimed it reports its end.
A worker killed with SIGKILL never reports, so its claim stays, and with a limit of 1 every later
run waits behind it. Dagster's monitoring daemon frees the slots of runs it already knows ended
(`free_slots_after_run_end_seconds`); nothing frees them for a headless run, and nothing marks a
headless run whose process is gone as failed. This does both, for the runs it can prove dead.

Each holder (a run that holds a slot, or waits for one) gets one verdict:
- `free`: the run ended (or is gone) and its worker is not running: its claims are stale;
- `dead`: the run is still "in progress" but its worker process no longer exists: the run is
  marked failed, then freed;
- `wait`: its worker is alive here; or it runs elsewhere and a monitoring daemon watches it;
- `stuck`: nobody can tell (it runs elsewhere and no monitoring daemon runs), or it holds a slot
  with a live worker past its `dagster/max_runtime`: the caller stops and names it.

Judging and freeing happen under a file lock in DAGSTER_HOME, so two observers on one machine
(waiting runs, the sensor, the command) never both mark the same run failed.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from dagster import DagsterInstance, DagsterRun
from dagster._core.storage.dagster_run import RunsFilter
from dagster._core.storage.tags import MAX_RUNTIME_SECONDS_TAG

from analytics_assets.defs.recovery.worker import CHILD_TAG, WORKER_TAG, Worker
from analytics_assets.instance_lock import instance_lock

Verdict = Literal["free", "dead", "wait", "stuck"]
# How recent the monitoring daemon's heartbeat must be to count as "a daemon is watching".
MONITOR_HEARTBEAT_SECONDS = 300
# With no daemon, a run on another host that ended may still be releasing its slots.
ENDED_GRACE_SECONDS = 300
FREE_COMMAND = "python -m analytics_assets.defs.recovery --free {run_id}"


class StuckRunError(Exception):
    """A run holds a pool slot and this process cannot tell whether it is alive."""


@dataclass(frozen=True)
class Holder:
    """A run with claimed or pending pool slots, and what to do about it."""

    run_id: str
    run: DagsterRun | None
    worker: Worker | None
    alive: bool | None
    verdict: Verdict
    reason: str

    @property
    def job_name(self) -> str:
        return self.run.job_name if self.run else "(deleted run)"

    def describe(self) -> str:
        where = f", {self.worker.describe()}" if self.worker else ""
        status = self.run.status.value if self.run else "deleted"
        return f"run {self.run_id} of {self.job_name} ({status}{where}): {self.reason}"


def _monitor_is_running(instance: DagsterInstance, now: float) -> bool:
    beat = instance.get_daemon_heartbeats().get("MONITORING")
    return beat is not None and now - beat.timestamp < MONITOR_HEARTBEAT_SECONDS


def verdict(
    run: DagsterRun | None,
    *,
    holds_slot: bool,
    started: float | None,
    ended: float | None,
    alive: bool | None,
    child_alive: bool,
    monitored: bool,
    now: float,
) -> tuple[Verdict, str]:
    """What to do about one holder; see the module docstring."""
    if run is None:
        return "free", "the run no longer exists"
    if alive is False and child_alive:
        # dbt outlives a killed worker for a moment; a second writer must not start meanwhile.
        return "wait", "its worker is gone, but a child process it started still runs"
    if run.is_finished:
        if alive:
            return "wait", "ended; its worker is still exiting"
        if alive is None and (monitored or (ended and now - ended < ENDED_GRACE_SECONDS)):
            return "wait", "ended elsewhere; its slots are freed once its worker has exited"
        return "free", f"ended {run.status.value} but still holds its slots"
    if alive is False:
        return "dead", "its worker process is gone (killed, crashed or rebooted)"
    if alive:
        limit = run.tags.get(MAX_RUNTIME_SECONDS_TAG)
        if holds_slot and limit and started and now - started > float(limit):
            return (
                "stuck",
                f"holds its slot {now - started:.0f} s after it started, past its max runtime",
            )
        return "wait", "its worker is running"
    if monitored:
        return "wait", "runs elsewhere; the monitoring daemon fails it after its max runtime"
    return "stuck", "cannot tell whether its worker is alive (another host, or no worker tag)"


def holders(instance: DagsterInstance, exclude: str | None = None) -> list[Holder]:
    """Every run other than `exclude` that holds or waits for a pool slot, with its verdict."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    run_ids = sorted(storage.get_concurrency_run_ids() - {exclude})
    if not run_ids:
        return []
    holding = {
        slot.run_id
        for pool in storage.get_concurrency_keys()
        for slot in storage.get_concurrency_info(pool).claimed_slots
    }
    records = {
        r.dagster_run.run_id: r for r in instance.get_run_records(RunsFilter(run_ids=run_ids))
    }
    now = datetime.now(timezone.utc).timestamp()
    monitored = _monitor_is_running(instance, now)
    found = []
    for run_id in run_ids:
        record = records.get(run_id)
        run = record.dagster_run if record else None
        worker = Worker.from_tag(run.tags.get(WORKER_TAG)) if run else None
        child = Worker.from_tag(run.tags.get(CHILD_TAG)) if run else None
        alive = worker.is_alive() if worker else None
        decided, reason = verdict(
            run,
            holds_slot=run_id in holding,
            started=record.start_time if record else None,
            ended=record.end_time if record else None,
            alive=alive,
            child_alive=bool(child and child.is_alive()),
            monitored=monitored,
            now=now,
        )
        found.append(Holder(run_id, run, worker, alive, decided, reason))
    return found


def free(
    instance: DagsterInstance,
    holder: Holder,
    on_marked_failed: Callable[[DagsterRun, str], None] | None = None,
) -> str:
    """Mark a dead holder's run failed (calling `on_marked_failed`), then free its claims."""
    run = instance.get_run_by_id(holder.run_id)  # someone may have marked it meanwhile
    if run is not None and not run.is_finished:
        message = (
            f"Marked failed by analytics_assets' recovery: {holder.reason} "
            f"({holder.worker.describe() if holder.worker else 'no worker recorded'})."
        )
        if on_marked_failed is not None:
            on_marked_failed(run, message)
        instance.report_run_failed(run, message)
    instance.event_log_storage.free_concurrency_slots_for_run(holder.run_id)
    return f"Freed the pool slots of {holder.describe()}."


def heal(
    instance: DagsterInstance,
    exclude: str | None = None,
    on_marked_failed: Callable[[DagsterRun, str], None] | None = None,
) -> tuple[list[str], list[Holder]]:
    """Free every provably dead holder. Returns what was freed, and the holders left."""
    freed, left = [], []
    with instance_lock(instance):
        for holder in holders(instance, exclude):
            if holder.verdict in ("free", "dead"):
                freed.append(free(instance, holder, on_marked_failed))
            else:
                left.append(holder)
    return freed, left


def stuck_message(stuck: Iterable[Holder]) -> str:
    """Names each stuck run and the one command that frees it."""
    lines = [
        f"{holder.describe()}. If it is not running, free its slots with: "
        f"{FREE_COMMAND.format(run_id=holder.run_id)} (same DAGSTER_HOME)"
        for holder in stuck
    ]
    return (
        "This run would wait forever for a pool slot held by a run that may be dead: "
        + "; ".join(lines)
        + ". See docs/operating.md#a-stuck-or-dead-run."
    )
