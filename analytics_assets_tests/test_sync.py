"""End to end: the bundled API, through Dagster's `materialize`, into a real DuckDB file."""

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from dagster import AssetKey, DagsterInstance, ExecuteInProcessResult

from analytics_assets.devtools.fake_api import LEGACY_TRAFFIC_API, Dataset, FakeGitBookAPI
from analytics_assets.gitbook.settings import RESOURCES
from analytics_assets_tests.harness import TEST_TOKEN, Runner, Warehouse, isolate

TABLES = tuple(spec.name for spec in RESOURCES)  # the unpartitioned tables of the main sync


@dataclass(frozen=True)
class Synced:
    """One full sync of the demo data, which the tests that only read it share."""

    runner: Runner
    result: ExecuteInProcessResult
    dataset: Dataset


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    """conftest's `runner` after `runner.materialize()`, once for the module: the same API
    profile, data and warehouse layout. Tests that write to the warehouse or the API use their
    own `runner` instead."""
    root = tmp_path_factory.mktemp("sync")
    dataset = Dataset.demo()
    with (
        pytest.MonkeyPatch.context() as mp,
        FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, api_version=LEGACY_TRAFFIC_API) as api,
        DagsterInstance.ephemeral() as instance,
    ):
        isolate(mp, root)  # module scope runs before conftest's autouse isolation
        warehouse = Warehouse(root / "warehouse.duckdb", root / "dlt_pipelines")
        runner = Runner(api, warehouse, instance)
        yield Synced(runner, runner.materialize(), dataset)


def data_columns(runner: Runner, table: str) -> str:
    rows = runner.warehouse.query(
        "select column_name from information_schema.columns "
        "where table_schema = 'gitbook' and table_name = ? and column_name not like '_dlt_%' "
        "order by column_name",
        [table],
    )
    return ", ".join(f'"{name}"' for (name,) in rows)


def snapshot(runner: Runner) -> dict[str, list[tuple]]:
    """Every table's rows without dlt's bookkeeping columns, sorted."""
    return {
        table: sorted(
            runner.warehouse.query(f"select {data_columns(runner, table)} from gitbook.{table}"),
            key=repr,
        )
        for table in TABLES
    }


def test_full_sync_loads_exact_row_counts(synced: Synced) -> None:
    runner, result, dataset = synced.runner, synced.result, synced.dataset

    assert result.success
    expected = dataset.expected_row_counts()
    assert {table: runner.warehouse.count(table) for table in TABLES} == expected
    # The demo data is fixed: pin its size so a generator change is noticed here too.
    assert expected["users"] == 1
    assert expected["org_members"] > len(
        {m["id"] for o in dataset.organizations for m in dataset.members_of(o["id"])}
    )


def test_materialization_metadata_has_row_count_and_dataset_table_name(synced: Synced) -> None:
    result, dataset = synced.result, synced.dataset

    expected = dataset.expected_row_counts()
    events = {m.asset_key: m for m in result.asset_materializations_for_node("gitbook")}
    for table in TABLES:
        metadata = events[AssetKey(["gitbook", table])].metadata
        assert metadata["dagster/row_count"].value == expected[table]
        assert metadata["dagster/table_name"].value == f"gitbook.{table}"


def test_awkward_cases_load_as_distinct_rows(synced: Synced) -> None:
    wh, dataset = synced.runner.warehouse, synced.dataset

    # One person in two orgs is two member rows, one per org.
    shared = wh.query(
        "select organization_id from gitbook.org_members where id = ? order by 1",
        [dataset.shared_member_id],
    )
    assert len(shared) == 2

    # The same page id in several spaces stays one row per space.
    repeated = wh.query(
        "select count(distinct space_id) from gitbook.content where id = ?",
        [dataset.repeated_page_id],
    )[0][0]
    assert repeated == sum(
        1
        for org in dataset.organizations
        for space in dataset.spaces_of(org["id"])
        if dataset.pages_of(space["id"])
    )

    # Identical timestamps across spaces are kept per space.
    per_timestamp = wh.query(
        "select timestamp, count(*) from gitbook.insights_traffic group by 1 order by 1"
    )
    assert per_timestamp and all(count > 1 for _, count in per_timestamp)

    # The empty space loads with no pages or traffic and does not fail the sync.
    assert (
        wh.query("select count(*) from gitbook.spaces where id = ?", [dataset.empty_space_id])[0][0]
        == 1
    )
    for table in ("content", "insights_traffic"):
        assert (
            wh.query(
                f"select count(*) from gitbook.{table} where space_id = ?", [dataset.empty_space_id]
            )[0][0]
            == 0
        )


def test_ids_with_reserved_characters_are_url_encoded(synced: Synced) -> None:
    runner, fake_api, dataset = synced.runner, synced.runner.api, synced.dataset
    awkward = dataset.awkward_space_id
    assert any(c in awkward for c in "/+ ")

    loaded = runner.warehouse.query(
        "select count(*) from gitbook.content where space_id = ?", [awkward]
    )[0][0]
    assert loaded == sum(1 for _ in _walk(dataset.pages_of(awkward))) > 0
    raw_paths = {r.raw_path.split("?")[0] for r in fake_api.requests if awkward in r.path}
    assert raw_paths and all("%2F" in p and "+" not in p and " " not in p for p in raw_paths)


def _walk(pages: list[dict]):
    for page in pages:
        yield page
        yield from _walk(page.get("pages") or [])


def test_nested_pages_are_flattened_with_parent_ids(synced: Synced) -> None:
    runner = synced.runner

    rows = runner.warehouse.query(
        "select space_id, id, parent_page_id from gitbook.content where parent_page_id is not null"
    )
    assert rows, "the demo data has nested pages"
    parents = set(runner.warehouse.query("select space_id, id from gitbook.content"))
    assert all((space_id, parent) in parents for space_id, _, parent in rows)


def test_running_the_same_sync_twice_leaves_the_same_rows(runner: Runner) -> None:
    runner.materialize()
    first = snapshot(runner)
    runner.materialize()

    assert snapshot(runner) == first


def test_user_in_a_data_envelope_loads_as_one_row(dataset: Dataset, warehouse, instance) -> None:
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, user_envelope=True) as api:
        Runner(api, warehouse, instance).materialize(["users"])

    assert warehouse.query("select id from gitbook.users") == [(dataset.user["id"],)]


def test_declared_columns_are_typed_even_when_all_values_are_null(synced: Synced) -> None:
    runner = synced.runner

    types = dict(
        runner.warehouse.query(
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema = 'gitbook'"
        )
    )
    assert types["insights_traffic.timestamp"].startswith("TIMESTAMP")
    assert types["insights_traffic.count"] == "BIGINT"
    assert types["org_members.joined_at"].startswith("TIMESTAMP")
    assert types["org_members.last_seen_at"].startswith("TIMESTAMP")
    assert types["users.urls"] == "JSON"
    assert types["content.pages"] == "JSON"
    assert types["organizations.invite_links"] == "BOOLEAN"


def test_configured_space_ids_replace_discovery(
    runner: Runner, fake_api: FakeGitBookAPI, dataset: Dataset
) -> None:
    chosen = dataset.awkward_space_id
    result = runner.materialize(["spaces", "content"], space_ids=[chosen])

    assert result.success
    assert runner.warehouse.query("select id, organization_id from gitbook.spaces") == [
        (
            chosen,
            next(
                o["id"]
                for o in dataset.organizations
                if any(s["id"] == chosen for s in dataset.spaces_of(o["id"]))
            ),
        )
    ]
    assert not fake_api.requests_to("/v1/orgs/{organizationId}/spaces")


def test_a_selected_resource_with_no_rows_succeeds_with_row_count_zero(
    runner: Runner, dataset: Dataset
) -> None:
    result = runner.materialize(["spaces", "content"], space_ids=[dataset.empty_space_id])

    assert result.success
    events = {m.asset_key: m for m in result.asset_materializations_for_node("gitbook")}
    assert events[AssetKey(["gitbook", "content"])].metadata["dagster/row_count"].value == 0
    assert events[AssetKey(["gitbook", "spaces"])].metadata["dagster/row_count"].value == 1
