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
DRIFTED = ("spaces", "org_members", "content")


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


# Each drift the bundled API can serve, and how a frozen contract names it.
REFUSALS = {
    Drift.EXTRA: "'spaces': a new field, column 'language'",
    Drift.RETYPED: "'org_members': field 'spaces' now has values of type text",
    Drift.MISSING: "'content': the field behind column 'document_id' is in no row",
}


def test_drift_fails_named_under_freeze_loading_nothing_and_warns_named_under_evolve(
    fake_api: FakeGitBookAPI,
    dataset: Dataset,
    warehouse: Warehouse,
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A healthy account passes under both contracts; each drift alone is refused under
    `freeze` with nothing loaded or left to load; one `evolve` sync accepts them all and its
    checks warn, naming each."""
    gitbook = Runner(fake_api, warehouse, instance).gitbook()

    def sync() -> Any:
        return run_full_sync(gitbook, warehouse.resource(), "WARNING", instance)

    def rows() -> dict[str, Any]:
        return {t: warehouse.query(f"select * from gitbook.{t} order by all") for t in DRIFTED}

    healthy = sync()
    monkeypatch.setenv(CONTRACT_ENV, "freeze")
    frozen = sync()  # a healthy re-sync: every table now holds rows, so every one is frozen
    assert healthy.success and frozen.success
    for result in (healthy, frozen):
        assert all(e.passed for e in _drift_checks(result).values())
    before, loads = rows(), warehouse.count("_dlt_loads")

    for drift, named in REFUSALS.items():
        fake_api.dataset = drifted(dataset, drift)
        refused = sync()
        assert not refused.success
        message = failure_message(refused)
        assert f"GitBook changed the shape of {named}" in message, drift
        assert f"run one sync with {CONTRACT_ENV}=evolve to accept it" in message
        assert warehouse.count("_dlt_loads") == loads and rows() == before, drift
        pipeline = dlt.pipeline("gitbook", pipelines_dir=str(warehouse.pipelines_dir))
        assert not pipeline.has_pending_data, f"{drift}: the refused extract was dropped"

    # Accepting takes one sync under evolve (dlt keeps each table's last contract).
    monkeypatch.setenv(CONTRACT_ENV, "evolve")
    fake_api.dataset = drifted(dataset, *Drift)
    accepted = sync()

    assert accepted.success, "a WARN never blocks"
    failed = {t: e for t, e in _drift_checks(accepted).items() if not e.passed}
    assert {t: e.severity for t, e in failed.items()} == dict.fromkeys(
        DRIFTED, AssetCheckSeverity.WARN
    )
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
