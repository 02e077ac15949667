"""The code location's executor: Dagster's in-process executor, plus what every run needs to
survive a real deployment.

Before any step asks for a pool slot, the run records its worker (`worker.WORKER_TAG`) and frees
the slots of runs whose worker is provably dead, marking those runs failed and logging one
WARNING that names each. A holder nobody can judge stops this run at once with a message that
names it and the command that frees it, instead of a silent wait. While the run's steps execute,
a thread repeats the healing, so a holder that dies while this run waits is freed too.

It also sends this run's alerts (`analytics_assets.alerts`): each failed ERROR check, the run's
own failure, and assets found past their freshness window when it ends.

`execute_in_process` (tests, the demo, the gate) replaces any job's executor with Dagster's plain
one, so none of this applies there; the CLI, `dagster dev` and deployed run workers use this.
"""

import threading
from collections.abc import Iterator

from dagster import DagsterEvent, executor
from dagster._core.definitions.executor_definition import (
    IN_PROC_CONFIG,
    _core_in_process_executor_creation,
)
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.executor.in_process import InProcessExecutor

from analytics_assets.alerts.freshness import alert_stale_assets
from analytics_assets.alerts.run_alerts import RunAlerts, alert_dead_run
from analytics_assets.alerts.webhook import Webhook
from analytics_assets.recovery.stale_claims import Holder, StuckRunError, heal, stuck_message
from analytics_assets.recovery.worker import WORKER_TAG, Worker

HEAL_INTERVAL_SECONDS = 10.0


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

    def run(self) -> None:
        while not self.stopped.wait(HEAL_INTERVAL_SECONDS):
            try:
                self.heal_once()
            except Exception as exc:  # the instance may be busy; the next round tries again
                self.context.log.debug(f"Pool healing skipped a round: {exc}")


class GuardedInProcessExecutor(InProcessExecutor):
    """In-process execution that never waits behind a dead run, and tells people of failures."""

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        instance, run = plan_context.instance, plan_context.dagster_run
        instance.add_run_tags(run.run_id, {WORKER_TAG: Worker.current().to_tag()})
        webhook = Webhook.from_env()
        alerts = RunAlerts(instance, run, webhook, plan_context.log.warning) if webhook else None
        healer = _Healer(plan_context, webhook)
        try:
            left = healer.heal_once()
            if stuck := [holder for holder in left if holder.verdict == "stuck"]:
                raise StuckRunError(stuck_message(stuck))
            for holder in left:
                plan_context.log.info(f"Waiting for a pool slot held by {holder.describe()}.")
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
