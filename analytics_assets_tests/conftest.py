"""Fixtures: a live bundled GitBook API, a throwaway DuckDB warehouse, and an asset runner."""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from analytics_assets.devtools.fake_api import LEGACY_TRAFFIC_API, Dataset, FakeGitBookAPI
from analytics_assets_tests.harness import TEST_TOKEN, Runner, Warehouse, isolate
from analytics_assets_tests.postgres import (
    REQUIRE_ENV,
    PostgresServer,
    find_bindir,
    running_postgres,
)


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
