"""The same sync and checks against a real PostgreSQL, configured the way a user does it:
`ANALYTICS_DESTINATION=postgres` plus dlt's own credentials variable."""

import threading
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from dagster import AssetCheckEvaluation, AssetKey, DagsterInstance, materialize

from analytics_assets.defs.resources import DESTINATION_ENV
from analytics_assets.devtools import gate
from analytics_assets.devtools.fake_api import TODAY_API, Dataset, FakeGitBookAPI
from analytics_assets.gitbook.settings import RESOURCES
from analytics_assets_tests.harness import (
    ALL_CHECKS,
    UNPARTITIONED_CHECKS,
    PostgresWarehouse,
    Runner,
    Warehouse,
)

CREDENTIALS_ENV = "DESTINATION__POSTGRES__CREDENTIALS"
TABLES = [spec.name for spec in RESOURCES]


@pytest.fixture
def dataset() -> Dataset:
    """Traffic up to today, so the data-freshness check passes on a clean sync."""
    return Dataset.demo(anchor=datetime.now(timezone.utc).date())


@pytest.fixture
def pg_runner(
    fake_api: FakeGitBookAPI,
    postgres_url: str,
    tmp_path: Path,
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> Runner:
    monkeypatch.setenv(CREDENTIALS_ENV, postgres_url)
    return Runner(fake_api, PostgresWarehouse(postgres_url, tmp_path / "pg_pipelines"), instance)


def primary_keys(warehouse: Warehouse | PostgresWarehouse, table: str) -> list[tuple]:
    spec = next(spec for spec in RESOURCES if spec.name == table)
    columns = ", ".join(spec.primary_key)
    return sorted(warehouse.query(f"select {columns} from gitbook.{table}"), key=repr)


def failed_checks(evaluations: list[AssetCheckEvaluation]) -> list[str]:
    return [e.asset_check_key.to_user_string() for e in evaluations if not e.passed]


def test_full_sync_and_checks_on_postgres_match_duckdb(
    pg_runner: Runner, runner: Runner, dataset: Dataset
) -> None:
    on_postgres = pg_runner.materialize(with_checks=True)
    on_duckdb = runner.materialize(with_checks=True)

    assert on_postgres.success and on_duckdb.success
    counts = {table: pg_runner.warehouse.count(table) for table in TABLES}
    assert counts == dataset.expected_row_counts()
    assert counts == {table: runner.warehouse.count(table) for table in TABLES}
    for table in TABLES:
        assert primary_keys(pg_runner.warehouse, table) == primary_keys(runner.warehouse, table)

    evaluations = on_postgres.get_asset_check_evaluations()
    assert len(evaluations) == UNPARTITIONED_CHECKS
    assert failed_checks(evaluations) == []

    events = {m.asset_key: m for m in on_postgres.asset_materializations_for_node("gitbook")}
    for table in TABLES:
        metadata = events[AssetKey(["gitbook", table])].metadata
        assert metadata["dagster/row_count"].value == counts[table]
        assert metadata["dagster/table_name"].value == f"gitbook.{table}"


def test_rerun_on_postgres_replaces_without_duplicates(pg_runner: Runner, dataset: Dataset) -> None:
    assert pg_runner.materialize().success
    before = {table: primary_keys(pg_runner.warehouse, table) for table in TABLES}

    assert pg_runner.materialize().success

    assert {table: primary_keys(pg_runner.warehouse, table) for table in TABLES} == before
    loads = pg_runner.warehouse.query("select count(*) from gitbook._dlt_loads")[0][0]
    assert loads == 4  # each run: the tables, then the history tables


def test_checks_read_postgres_itself(pg_runner: Runner) -> None:
    """A duplicate written straight into PostgreSQL fails the key check: the checks query the
    destination, not a copy."""
    assert pg_runner.materialize().success
    import psycopg2

    columns = [
        name
        for (name,) in pg_runner.warehouse.query(
            "select column_name from information_schema.columns "
            "where table_schema = 'gitbook' and table_name = 'organizations'"
        )
    ]
    # _dlt_id is unique in PostgreSQL, so each twin gets a new one.
    values = [f"{name} || '-twin'" if name == "_dlt_id" else name for name in columns]
    with psycopg2.connect(pg_runner.warehouse.url) as con, con.cursor() as cursor:
        cursor.execute(
            f"insert into gitbook.organizations ({', '.join(columns)}) "
            f"select {', '.join(values)} from gitbook.organizations"
        )

    evaluations = [
        e  # site_insights_daily is not loaded here, so its checks fail on the missing table
        for e in pg_runner.run_checks().get_asset_check_evaluations()
        if e.asset_key.path[-1] in TABLES
    ]

    assert failed_checks(evaluations) == [
        "gitbook/organizations:primary_key_is_unique_and_not_null"
    ]
    failing = next(e for e in evaluations if not e.passed)
    # Every row now has a twin, so every row fails.
    assert failing.metadata["failing_rows"].value == pg_runner.warehouse.count("organizations")


def test_gate_from_env_loads_into_postgres(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(DESTINATION_ENV, "postgres")
    monkeypatch.setenv(CREDENTIALS_ENV, postgres_url)

    assert gate.main(["--warehouse-from-env"]) == 0

    assert f"{ALL_CHECKS} checks: 0 ERROR failures" in capsys.readouterr().out  # dbt tests too
    warehouse = PostgresWarehouse(postgres_url, Path("unused"))
    assert warehouse.count("organizations") == len(Dataset.demo().organizations)


def test_site_insights_partitions_replace_their_days_on_postgres(
    pg_runner: Runner, dataset: Dataset
) -> None:
    """dlt's delete-insert on (site_id, day) behaves on PostgreSQL as on DuckDB: a re-run of
    a day replaces it, other days stay, and the table's checks pass."""
    from analytics_assets.defs.checks.tables import build_site_insights_checks
    from analytics_assets.defs.sync.site_insights import (
        build_site_insights_assets,
        site_insights_partitions,
    )
    from analytics_assets.settings import OperationsConfig

    days = [date(2024, 6, 29), date(2024, 6, 30)]
    assets = [
        build_site_insights_assets(site_insights_partitions(date(2024, 1, 1))),
        build_site_insights_checks(OperationsConfig()),
    ]
    assert pg_runner.materialize(["organizations", "sites"]).success
    for day in (*days, days[-1]):
        result = materialize(
            assets,
            partition_key=day.isoformat(),
            instance=pg_runner.instance,
            resources=pg_runner.resources(),
        )
        assert result.success

    assert pg_runner.warehouse.count("site_insights_daily") == dataset.expected_site_insight_rows(
        days
    )
    assert failed_checks(result.get_asset_check_evaluations()) == []


def test_a_reader_never_sees_a_table_half_replaced_on_postgres(
    pg_runner: Runner, fake_api: FakeGitBookAPI, postgres_url: str
) -> None:
    """While a re-sync replaces every table (deletions included), a second connection polls the
    row counts: it only ever sees the old table or the new one, never an empty or mixed one."""
    assert pg_runner.materialize().success
    before = {table: pg_runner.warehouse.count(table) for table in TABLES}
    fake_api.dataset = fake_api.dataset.without(
        orgs=["org-globex"], spaces=["acme-api"], members=[("org-acme", "user-alan")]
    )
    after_expected = fake_api.expected_row_counts()
    seen: dict[str, set[int]] = {table: set() for table in TABLES}
    done = threading.Event()

    def poll() -> None:
        import psycopg2

        con = psycopg2.connect(postgres_url)
        con.autocommit = True  # each count is its own statement, as a dashboard's would be
        try:
            with con.cursor() as cursor:
                while not done.is_set():
                    for table in TABLES:
                        cursor.execute(f"select count(*) from gitbook.{table}")
                        seen[table].add(cursor.fetchone()[0])
        finally:
            con.close()

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        assert pg_runner.materialize().success
    finally:
        done.set()
        reader.join(timeout=30)

    assert {table: pg_runner.warehouse.count(table) for table in TABLES} == after_expected
    for table in TABLES:
        assert seen[table] <= {before[table], after_expected[table]}, table
    changed = [table for table in TABLES if before[table] != after_expected[table]]
    assert changed and all(len(seen[table]) >= 1 for table in changed)


def test_empty_tables_exist_and_pass_their_checks_on_postgres(
    pg_runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    """No sites and no space traffic (today's API): the tables exist empty, checks pass."""
    fake_api.dataset = fake_api.dataset.without(sites=[s["id"] for s in fake_api.dataset.sites])
    fake_api.api_version = TODAY_API

    result = pg_runner.materialize(with_checks=True)

    assert result.success
    assert pg_runner.warehouse.tables() >= set(TABLES)
    assert pg_runner.warehouse.count("sites") == pg_runner.warehouse.count("insights_traffic") == 0
    assert failed_checks(result.get_asset_check_evaluations()) == []
