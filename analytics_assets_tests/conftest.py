"""Fixtures: a live bundled GitBook API, a throwaway DuckDB warehouse, and an asset runner."""

import gc
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance

from analytics_assets.devtools.fake_api import LEGACY_TRAFFIC_API, Dataset, FakeGitBookAPI
from analytics_assets_tests.demo_loads import DemoLoads, load_demo
from analytics_assets_tests.harness import TEST_TOKEN, Runner, Warehouse, isolate
from analytics_assets_tests.postgres import (
    REQUIRE_ENV,
    PostgresServer,
    find_bindir,
    running_postgres,
)

# Modules whose fixture is a whole sync or a `dagster dev` server, by the name of what they
# share: under pytest-xdist each group stays on one worker, so that it is set up once (see the
# scheduler below). The models tests and the docs' queries read the same demo loads.
SHARED_SETUP_GROUPS = {
    "test_webserver": "dagster dev",
    "test_models": "demo loads",
    "test_docs_queries": "demo loads",
    "test_sync": "full sync",
}
# The modules with the longest tests, started first so that none is left running alone at the
# end of a parallel run; the rest keep their order. Only a scheduling hint: a name missing here
# costs time, never a test.
LONGEST_FIRST = (
    "test_webserver",
    "test_models",
    "test_alerts",
    "test_models_first_run",
    "test_recovery",
    "test_daemon_recovery",
    "test_docs_queries",
    "test_docs",
    "test_openapi_property",
    "test_deploy",
    "test_account_shapes",
    "test_operations",
    "test_site_insights_cli",
    "test_gate",
    "test_partial_access",
    "test_postgres_destination",
    "test_demo",
    "test_personal_data",
    "test_rate_limit",
    "test_schema_drift",
    "test_mirror",
    "test_checks",
)


def _module(nodeid: str) -> str:
    return Path(nodeid.split("::")[0]).stem


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first; stable, so each module, and the unlisted ones, keep their
    order."""
    last = len(LONGEST_FIRST)
    items.sort(
        key=lambda item: (
            LONGEST_FIRST.index(m) if (m := _module(item.nodeid)) in LONGEST_FIRST else last
        )
    )


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown when it is not installed
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadscope` (pyproject.toml's addopts), narrowed: each group of
    SHARED_SETUP_GROUPS stays on one worker, and every other test is a unit of its own, so the
    long tests of one module (the sparse account shapes) run side by side.

    xdist's own `loadgroup` cannot do this with pytest 9.2: it marks groups by rewriting
    `item._nodeid`, which pytest 9.2 no longer reads."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedSetupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return SHARED_SETUP_GROUPS.get(_module(nodeid), nodeid)

    return SharedSetupScheduling(config, log)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Less garbage-collection work in each test process: what the imports loaded (Dagster,
    dlt, dbt's manifest) is frozen out of the collector's scans, about 4% of an in-process
    sync's CPU. Collections still run as often, so connections in cycles close as before."""
    gc.freeze()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate(monkeypatch, tmp_path)


@pytest.fixture
def dataset() -> Dataset:
    return Dataset.demo()


@pytest.fixture
def fake_api(dataset: Dataset) -> Iterator[FakeGitBookAPI]:
    """The bundled API in its 0.91 profile, which still serves space traffic, so that the tests
    of `insights_traffic` have traffic to load. `test_account_shapes.py` runs the jobs against
    today's profile (no traffic endpoint) too, and the demo and the gate use today's."""
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, api_version=LEGACY_TRAFFIC_API) as api:
        yield api


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "warehouse.duckdb", tmp_path / "dlt_pipelines")


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture
def runner(fake_api: FakeGitBookAPI, warehouse: Warehouse, instance: DagsterInstance) -> Runner:
    return Runner(fake_api, warehouse, instance)


@pytest.fixture(scope="session")
def demo_loads(tmp_path_factory: pytest.TempPathFactory) -> DemoLoads:
    """What the demo loads, once per session (see demo_loads.py); read-only."""
    return load_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session; each test takes its own database."""
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set but no PostgreSQL binaries (initdb) were found.")
        pytest.skip("PostgreSQL binaries (initdb, postgres) not found; install postgresql.")
    with running_postgres(bindir) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh database for this test."""
    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:60]
    return postgres_server.create_database(name)
