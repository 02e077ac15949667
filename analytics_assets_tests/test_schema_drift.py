"""Schema drift: GitBook adding, retyping or removing a field shows as a named WARN under
`evolve`, and as a named failure that loads nothing under `freeze` (GITBOOK_SCHEMA_CONTRACT)."""

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import dlt
import pytest
from dagster import AssetCheckSeverity, DagsterInstance

from analytics_assets.devtools.bundled import run_full_sync, run_site_insights
from analytics_assets.devtools.fake_api import TODAY_API, Dataset, FakeGitBookAPI
from analytics_assets.devtools.fake_api.edits import Drift, drifted
from analytics_assets.gitbook.schema_drift import CONTRACT_ENV, schema_changes
from analytics_assets_tests.harness import TEST_TOKEN, Runner, Warehouse, failure_message

CHECK = "schema_unchanged_since_previous_load"


@pytest.fixture
def dataset() -> Dataset:
    """Anchored today: the site insights partitions start in 2025."""
    return Dataset.demo(anchor=datetime.now(timezone.utc).date())


@pytest.fixture
def fake_api(dataset: Dataset) -> Iterator[FakeGitBookAPI]:
    """Today's API (no space traffic: its empty table is created by a second load)."""
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, api_version=TODAY_API) as api:
        yield api


def profile(columns: dict[str, str], filled: dict[str, int], rows: int = 4) -> dict[str, Any]:
    return {"columns": columns, "filled": filled, "rows": rows}


def test_changes_name_added_retyped_and_removed_columns() -> None:
    columns = {"id": "text", "spaces": "bigint", "doc": "text", "icon": "text"}
    before = profile(columns, {"id": 4, "spaces": 4, "doc": 2, "icon": 1})
    after = profile(
        {**columns, "lang": "text", "spaces__v_text": "text"},
        {"id": 3, "lang": 3, "spaces__v_text": 3},
        rows=3,
    )

    changes = schema_changes(before, after)

    # `icon` held a value in one row of four: rare data, not a field GitBook stopped serving.
    assert changes.items() == [
        "added: lang (text)",
        "removed: doc (no value in this load)",
        "retyped: spaces (bigint -> values now in spaces__v_text)",
    ]
    assert not schema_changes(after, after)
    assert schema_changes(before, {**after, "rows": 0}).removed == [], (
        "an empty load removes nothing"
    )
    assert schema_changes(before, after, removals=False).removed == []


def _drift_checks(result: Any) -> dict[str, Any]:
    return {
        e.asset_key.path[-1]: e
        for e in result.get_asset_check_evaluations()
        if e.check_name == CHECK
    }


def test_drift_shows_as_a_named_warning_under_evolve(
    fake_api: FakeGitBookAPI,
    dataset: Dataset,
    warehouse: Warehouse,
    instance: DagsterInstance,
) -> None:
    gitbook = Runner(fake_api, warehouse, instance).gitbook()
    healthy = run_full_sync(gitbook, warehouse.resource(), "WARNING", instance)
    again = run_full_sync(gitbook, warehouse.resource(), "WARNING", instance)
    fake_api.dataset = drifted(dataset, *Drift)

    changed = run_full_sync(gitbook, warehouse.resource(), "WARNING", instance)

    assert healthy.success and again.success and changed.success, "a WARN never blocks"
    assert all(e.passed for e in _drift_checks(healthy).values())
    assert all(e.passed for e in _drift_checks(again).values()), "a healthy re-sync is no drift"
    failed = {t: e for t, e in _drift_checks(changed).items() if not e.passed}
    assert {t: e.severity for t, e in failed.items()} == {
        "spaces": AssetCheckSeverity.WARN,
        "org_members": AssetCheckSeverity.WARN,
        "content": AssetCheckSeverity.WARN,
    }
    assert failed["spaces"].metadata["examples"].value == ["added: language (text)"]
    assert failed["org_members"].metadata["examples"].value == [
        "retyped: spaces (bigint -> values now in spaces__v_text)"
    ]
    assert failed["content"].metadata["examples"].value == [
        "removed: document_id (no value in this load)"
    ]
    assert warehouse.query("select count(*) from gitbook.spaces where language = 'en'")[0][0] > 0
    # The stored dlt schema keeps every column's type (dagster-dlt's metadata would strip them).
    stored = json.loads(
        (warehouse.pipelines_dir / "gitbook/schemas/gitbook.schema.json").read_text()
    )
    untyped = [
        f"{table}.{name}"
        for table, schema in stored["tables"].items()
        for name, column in schema["columns"].items()
        if "data_type" not in column
    ]
    assert stored["tables"]["spaces"]["columns"] and untyped == []


@pytest.mark.parametrize(
    ("drift", "named"),
    [
        (Drift.EXTRA, "'spaces': a new field, column 'language'"),
        (Drift.RETYPED, "'org_members': field 'spaces' now has values of type text"),
        (Drift.MISSING, "'content': the field behind column 'document_id' is in no row"),
    ],
)
def test_drift_fails_the_run_and_loads_nothing_under_freeze(
    drift: Drift,
    named: str,
    runner: Runner,
    fake_api: FakeGitBookAPI,
    dataset: Dataset,
    warehouse: Warehouse,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert runner.materialize().success
    monkeypatch.setenv(CONTRACT_ENV, "freeze")
    assert runner.materialize().success, "a healthy re-sync passes a frozen contract"
    tables = ["spaces", "org_members", "content"]

    def rows() -> dict[str, Any]:
        return {t: warehouse.query(f"select * from gitbook.{t} order by all") for t in tables}

    def shape() -> dict[str, Any]:
        columns = {t: sorted(name for name, _ in columns_of(warehouse, t)) for t in tables}
        return {
            **columns,
            "documents": warehouse.query("select count(document_id) from gitbook.content"),
        }

    before, before_shape, loads = rows(), shape(), warehouse.count("_dlt_loads")
    fake_api.dataset = drifted(dataset, drift)

    result = runner.materialize(raise_on_error=False)

    assert not result.success
    message = failure_message(result)
    assert f"GitBook changed the shape of {named}" in message
    assert f"run one sync with {CONTRACT_ENV}=evolve to accept it" in message
    assert warehouse.count("_dlt_loads") == loads
    assert rows() == before
    pending = dlt.pipeline("gitbook", pipelines_dir=str(warehouse.pipelines_dir)).has_pending_data
    assert not pending, "the refused extract was dropped"
    # Accepting the change takes one sync under evolve (dlt keeps a table's last contract).
    monkeypatch.setenv(CONTRACT_ENV, "evolve")
    accepted = runner.materialize(with_checks=True)
    assert accepted.success
    assert [table for table, e in _drift_checks(accepted).items() if not e.passed] == [
        named.split("'")[1]
    ]
    assert shape() != before_shape


def test_site_insights_compare_with_the_previous_run_not_another_day_of_the_same_run(
    runner: Runner, dataset: Dataset
) -> None:
    assert runner.materialize(["organizations", "sites"]).success
    days = [dataset.anchor - timedelta(days=1), dataset.anchor]

    first = run_site_insights(
        runner.gitbook(), runner.warehouse.resource(), days, "WARNING", runner.instance
    )
    second = run_site_insights(
        runner.gitbook(), runner.warehouse.resource(), days, "WARNING", runner.instance
    )

    assert first.success and second.success
    details = [
        {e.metadata["detail"].value for e in _drift_checks(result).values()}
        for result in (first, second)
    ]
    assert details == [
        {"Fewer than two loads with a column profile: nothing to compare."},
        {"Same columns, types and filled columns as the previous load."},
    ]


def columns_of(warehouse: Warehouse, table: str) -> list[tuple[str, str]]:
    return warehouse.query(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'gitbook' and table_name = ?",
        [table],
    )
