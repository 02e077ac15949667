"""Run the main job against the bundled GitBook-compatible API: shared by the demo and the gate."""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from dagster import DagsterInstance, ExecuteInProcessResult

from analytics_assets.definitions import defs
from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI
from analytics_assets.jobs import FULL_SYNC_JOB_NAME
from analytics_assets.resources import GitBookResource, WarehouseResource


@contextmanager
def bundled_gitbook() -> Iterator[GitBookResource]:
    """The bundled API on a free loopback port, with today's traffic and a throwaway token."""
    token = secrets.token_urlsafe(24)
    dataset = Dataset.demo(anchor=datetime.now(timezone.utc).date())
    with FakeGitBookAPI(dataset=dataset, token=token) as api:
        yield GitBookResource(access_token=token, base_url=api.base_url)


def run_full_sync(gitbook: GitBookResource, warehouse: WarehouseResource) -> ExecuteInProcessResult:
    """The `gitbook_full_sync` job, in process: every asset, then every asset check."""
    job = defs().resolve_job_def(FULL_SYNC_JOB_NAME)
    return job.execute_in_process(
        instance=DagsterInstance.ephemeral(),
        resources={"gitbook": gitbook, "warehouse": warehouse},
        raise_on_error=False,
    )
