"""The code location's executor: Dagster's in-process executor, plus what every run needs to
survive a real deployment.

Before any step asks for a pool slot, the run records its worker (`worker.WORKER_TAG`) and frees
the slots of runs whose worker is provably dead, marking those runs failed and logging one
WARNING that names each. A holder nobody can judge stops this run at once with a message that
names it and the command that frees it, instead of a silent wait. While the run's steps execute,
a thread repeats the healing, so a holder that dies while this run waits is freed too, and
watches this run itself: once something else ended it (run monitoring past its max runtime, a
person terminating it), the worker stops, so that it never writes beside the run that takes
over its freed slot.

It also sends this run's alerts (`analytics_assets.defs.alerts`): each failed ERROR check, the run's
own failure, and assets found past their freshness window when it ends.

`execute_in_process` (tests, the demo, the gate) replaces any job's executor with Dagster's plain
one, so none of this applies there; the CLI, `dagster dev` and deployed run workers use this.
"""

import os
import signal
import threading
from collections.abc import Iterator

from dagster import DagsterEvent, Definitions, definitions, executor
from dagster._core.definitions.executor_definition import (
    IN_PROC_CONFIG,
    _core_in_process_executor_creation,
)
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.executor.in_process import InProcessExecutor

from analytics_assets.defs.alerts.freshness import alert_stale_assets
from analytics_assets.defs.alerts.run_alerts import RunAlerts, alert_dead_run
from analytics_assets.defs.alerts.webhook import Webhook
from analytics_assets.defs.recovery.stale_claims import Holder, StuckRunError, heal, stuck_message
from analytics_assets.defs.recovery.worker import CHILD_TAG, WORKER_TAG, Worker

HEAL_INTERVAL_SECONDS = 10.0
# After asking its own run to stop, how long the worker waits before it exits hard; shorter
# than `free_slots_after_run_end_seconds` in dagster.yaml (60 s).
STOP_GRACE_SECONDS = 20.0


class _Healer(threading.Thread):
    """Frees dead holders every few seconds while the run executes."""

    def __init__(self, context: PlanOrchestrationContext, webhook: Webhook | None) -> None:
        super().__init__(name="analytics-assets-healer", daemon=True)
        self.context = context
        self.webhook = webhook
        self.stopped = threading.Event()

    def heal_once(self) -> list[Holder]:
        """Free the dead holders (one WARNING each); returns the holders left."""
        instance, log = self.context.instance, self.context.log
        notify = alert_dead_run(instance, self.webhook, log.warning)
        freed, left = heal(instance, self.context.dagster_run.run_id, notify)
        for line in freed:
            log.warning(line)
        return left

    def ended_elsewhere(self) -> bool:
        """Whether something else ended this run (or is cancelling it) while it executes."""
        run = self.context.instance.get_run_by_id(self.context.dagster_run.run_id)
        return run is not None and (run.is_finished or run.status.value == "CANCELING")

    def stop_worker(self) -> None:
        self.context.log.error(
            "This run was ended from outside (its max runtime passed, or it was terminated) "
            "while its worker still ran: stopping the worker, so that it never writes beside "
            "the run that takes over its pool slot."
        )
        os.kill(os.getpid(), signal.SIGINT)  # Dagster's interrupt: steps stop at a safe point
        if not self.stopped.wait(STOP_GRACE_SECONDS):
            os._exit(1)

    def run(self) -> None:
        while not self.stopped.wait(HEAL_INTERVAL_SECONDS):
            try:
                if self.ended_elsewhere():
                    self.stop_worker()
                    return
                self.heal_once()
            except Exception as exc:  # the instance may be busy; the next round tries again
                self.context.log.debug(f"Pool healing skipped a round: {exc}")


class GuardedInProcessExecutor(InProcessExecutor):
    """In-process execution that never waits behind a dead run, and tells people of failures."""

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        instance, run = plan_context.instance, plan_context.dagster_run
        # A re-execution copies its parent's tags: this run's worker, and no child yet.
        instance.add_run_tags(run.run_id, {WORKER_TAG: Worker.current().to_tag(), CHILD_TAG: ""})
        webhook = Webhook.from_env()
        alerts = RunAlerts(instance, run, webhook, plan_context.log.warning) if webhook else None
        healer = _Healer(plan_context, webhook)
        try:
            try:
                left = healer.heal_once()
            except Exception as exc:  # a busy instance must not fail the run; the thread retries
                plan_context.log.warning(f"Could not look for dead runs in the pool yet: {exc}")
                left = []
            if stuck := [holder for holder in left if holder.verdict == "stuck"]:
                raise StuckRunError(stuck_message(stuck))
            for holder in left:
                plan_context.log.info(
                    f"Another run holds or waits for the pool: {holder.describe()}."
                )
            healer.start()
            for event in super().execute(plan_context, execution_plan):
                if alerts:
                    alerts.observe(event)
                yield event
        except Exception as exc:
            if alerts:
                alerts.finish(exc)
            raise
        finally:
            healer.stopped.set()
        if alerts:
            alerts.finish()
            repository = plan_context.job.get_repository_definition()
            if repository is not None:
                alert_stale_assets(instance, repository.asset_graph, webhook, alerts.warn)


@executor(name="in_process", config_schema=IN_PROC_CONFIG)
def guarded_in_process_executor(init_context) -> GuardedInProcessExecutor:  # type: ignore[no-untyped-def]
    """Dagster's `in_process_executor` (same config), guarded; see the module docstring."""
    plain = _core_in_process_executor_creation(init_context.executor_config)
    return GuardedInProcessExecutor(
        retries=plain.retries, step_dependency_config=plain.step_dependency_config
    )


@definitions
def defs() -> Definitions:
    """Every job of the code location runs on this executor.

    In-process: the sync is one dlt op and the checks are short queries. Separate step processes
    would add seconds of imports each, and parallel check processes would contend for an
    embedded DuckDB file's lock. Parallelism lives inside the dlt op.
    """
    return Definitions(executor=guarded_in_process_executor)
