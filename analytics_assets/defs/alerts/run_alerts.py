"""The alerts a run sends about itself, from the events its steps yield."""

from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import AssetCheckSeverity, DagsterEvent, DagsterEventType, DagsterInstance, DagsterRun

from analytics_assets.defs.alerts.messages import (
    check_failed,
    first_line,
    run_failed,
    step_failure_summary,
)
from analytics_assets.defs.alerts.once import claim_run_failure
from analytics_assets.defs.alerts.webhook import Webhook


@dataclass
class RunAlerts:
    """Watches one run's events: a failed ERROR check is sent as it happens, a failed run once
    at the end. A green run sends nothing."""

    instance: DagsterInstance
    run: DagsterRun
    webhook: Webhook
    warn: Callable[[str], None]
    failures: list[str] = field(default_factory=list)

    def observe(self, event: DagsterEvent) -> None:
        if event.is_step_failure:
            self.failures.append(step_failure_summary(event))
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.asset_check_evaluation_data
            if not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR:
                text = check_failed(evaluation, self.run.job_name, self.run.run_id)
                self.webhook.send(text, self.warn)

    def finish(self, error: BaseException | None = None) -> None:
        """Send the run's failure, if it failed and nobody has sent it yet."""
        if error is not None:
            self.failures.append(first_line(f"{type(error).__name__}: {error}"))
        if self.failures and claim_run_failure(self.instance, self.run.run_id):
            why = "\n".join(self.failures[:5])
            self.webhook.send(run_failed(self.run.job_name, self.run.run_id, why), self.warn)


def alert_dead_run(
    instance: DagsterInstance, webhook: Webhook | None, warn: Callable[[str], None]
) -> Callable[[DagsterRun, str], None]:
    """For the recovery: tell people about a run whose worker died, before marking it failed."""

    def send(run: DagsterRun, why: str) -> None:
        if webhook is not None and claim_run_failure(instance, run.run_id):
            webhook.send(run_failed(run.job_name, run.run_id, why), warn)

    return send
