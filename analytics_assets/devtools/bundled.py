"""Run the jobs against the bundled GitBook-compatible API: shared by the demo and the gate."""

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

from dagster import (
    AssetKey,
    DagsterInstance,
    ExecuteInProcessResult,
    JobDefinition,
    materialize,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from analytics_assets.definitions import defs
from analytics_assets.defs.jobs.jobs import (
    FULL_SYNC_JOB_NAME,
    MODELS_JOB_NAME,
    SITE_INSIGHTS_JOB_NAME,
)
from analytics_assets.defs.models.assets import build_models_assets
from analytics_assets.defs.models.project import dbt_cli, prepared_project
from analytics_assets.defs.resources import GitBookResource, WarehouseResource
from analytics_assets.devtools.fake_api import TODAY_API, Dataset, FakeGitBookAPI

# How many UTC days of site insights the demo and the gate load, ending today.
RECENT_DAYS = 7


@contextmanager
def bundled_gitbook() -> Iterator[GitBookResource]:
    """The bundled API on a free loopback port, with a throwaway token, shaped like today's
    GitBook (API 0.202.0): no space traffic endpoint, analytics per site, its rate-limit
    headers and small default pages. What users will meet is what the demo and the gate run."""
    token = secrets.token_urlsafe(24)
    dataset = Dataset.demo(anchor=datetime.now(timezone.utc).date())
    with FakeGitBookAPI(dataset=dataset, token=token, api_version=TODAY_API) as api:
        yield GitBookResource(access_token=token, base_url=api.base_url)


def recent_days(count: int = RECENT_DAYS) -> list[date]:
    """The last `count` UTC days, today included, oldest first."""
    today = datetime.now(timezone.utc).date()
    return [today - timedelta(days=offset) for offset in range(count - 1, -1, -1)]


def job(name: str) -> JobDefinition:
    """A job of the code location (its definitions are loaded once per settings)."""
    return defs().resolve_job_def(name)


def _console(log_level: str) -> dict[str, Any]:
    """Run config for the console logger: DEBUG shows every event, WARNING only what matters."""
    return {"loggers": {"console": {"config": {"log_level": log_level}}}}


def run_full_sync(
    gitbook: GitBookResource,
    warehouse: WarehouseResource,
    log_level: str = "DEBUG",
    instance: DagsterInstance | None = None,
) -> ExecuteInProcessResult:
    """The `gitbook_full_sync` job, in process: every unpartitioned asset, then its checks.

    `instance` keeps the run's records (a fresh ephemeral one by default)."""
    return job(FULL_SYNC_JOB_NAME).execute_in_process(
        run_config=_console(log_level),
        instance=instance or DagsterInstance.ephemeral(),
        resources={"gitbook": gitbook, "warehouse": warehouse},
        raise_on_error=False,
    )


def run_site_insights(
    gitbook: GitBookResource,
    warehouse: WarehouseResource,
    days: list[date],
    log_level: str = "DEBUG",
    instance: DagsterInstance | None = None,
) -> ExecuteInProcessResult:
    """`gitbook_site_insights_sync` over `days` in one run, as a backfill runs it, then checks."""
    return job(SITE_INSIGHTS_JOB_NAME).execute_in_process(
        run_config=_console(log_level),
        instance=instance or DagsterInstance.ephemeral(),
        resources={"gitbook": gitbook, "warehouse": warehouse},
        tags={
            ASSET_PARTITION_RANGE_START_TAG: days[0].isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: days[-1].isoformat(),
        },
        raise_on_error=False,
    )


def run_models(
    warehouse: WarehouseResource,
    log_level: str = "DEBUG",
    instance: DagsterInstance | None = None,
    selection: Sequence[AssetKey] | None = None,
) -> ExecuteInProcessResult:
    """`gitbook_models`: dbt build of the models (all, or `selection`) over the loaded tables,
    each dbt test a check. In a deployment the automation sensor starts these runs after the
    loads; in process, nothing does."""
    if selection is not None:  # a job's subset cannot take another resource: materialize it
        project = prepared_project()
        return materialize(
            [build_models_assets(project, warehouse.resolve_destination())],
            selection=list(selection),
            run_config=_console(log_level),
            instance=instance or DagsterInstance.ephemeral(),
            resources={"dbt": dbt_cli(project), "warehouse": warehouse},
            raise_on_error=False,
        )
    return job(MODELS_JOB_NAME).execute_in_process(
        run_config=_console(log_level),
        instance=instance or DagsterInstance.ephemeral(),
        resources={"warehouse": warehouse},
        raise_on_error=False,
    )


def run_all(
    gitbook: GitBookResource,
    warehouse: WarehouseResource,
    days: int = RECENT_DAYS,
    log_level: str = "DEBUG",
) -> list[ExecuteInProcessResult]:
    """The full sync, then the last `days` days of site insights (which need the sites), then
    the dbt models over both; each step only if the one before succeeded."""
    results = [run_full_sync(gitbook, warehouse, log_level)]
    if results[-1].success:
        results.append(run_site_insights(gitbook, warehouse, recent_days(days), log_level))
    if results[-1].success:
        results.append(run_models(warehouse, log_level))
    return results
