"""What an alert says: what failed, where, the error's first line, and the run id.

Only names, counts and error summaries: never row values, so no email, name or visitor text
can reach a chat channel.
"""

from dagster import AssetKey, DagsterEvent
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation

FIRST_LINE_CHARS = 400


def first_line(text: str | None) -> str:
    line = next((part.strip() for part in (text or "").splitlines() if part.strip()), "")
    return line[:FIRST_LINE_CHARS] or "no error message"


def step_failure_summary(event: DagsterEvent) -> str:
    """A failed step's own explanation (a `Failure`'s description) or its error's first line."""
    data = event.step_failure_data
    user = data.user_failure_data
    if user is not None and user.description:
        return f"step {event.step_key}: {first_line(user.description)}"
    return f"step {event.step_key}: {first_line(data.error.message if data.error else None)}"


def run_failed(job_name: str, run_id: str, why: str) -> str:
    return f":red_circle: Dagster run failed: job `{job_name}`, run `{run_id}`.\n{why}"


def check_failed(evaluation: AssetCheckEvaluation, job_name: str, run_id: str) -> str:
    failing = evaluation.metadata.get("failing_rows")
    detail = evaluation.metadata.get("detail")
    parts = [f"failing rows: {failing.value}"] if failing is not None else []
    if detail is not None and detail.value:
        parts.append(first_line(str(detail.value)))
    blocking = ", blocking" if evaluation.blocking else ""
    return (
        f":warning: Asset check failed (ERROR{blocking}): `{evaluation.check_name}` on "
        f"`{evaluation.asset_key.to_user_string()}`, job `{job_name}`, run `{run_id}`.\n"
        + ("; ".join(parts) or first_line(evaluation.description))
    )


def asset_stale(key: AssetKey, age_hours: float, window_hours: float, run_id: str) -> str:
    last = run_id and f" (last loaded by run `{run_id}`)"
    return (
        f":hourglass: `{key.to_user_string()}` is past its freshness window: last loaded "
        f"{age_hours:.1f} h ago, window {window_hours:g} h{last}."
    )
