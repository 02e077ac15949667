"""Each asset check passes on good data and fails, with usable metadata, on deliberately broken
data. Data is broken in the warehouse (as an older sync or a manual fix might leave it) or served
broken by the bundled API; time is controlled through the checks' clock, never by sleeping."""

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    ExecuteInProcessResult,
    asset,
)

from analytics_assets.devtools.fake_api import LEGACY_TRAFFIC_API, Dataset, FakeGitBookAPI
from analytics_assets_tests.harness import TEST_TOKEN, UNPARTITIONED_CHECKS, Runner, Warehouse

TODAY = datetime.now(timezone.utc).date()


def evaluations(result: ExecuteInProcessResult) -> dict[str, AssetCheckEvaluation]:
    return {e.asset_check_key.to_user_string(): e for e in result.get_asset_check_evaluations()}


def tamper(warehouse: Warehouse, *statements: str) -> None:
    with duckdb.connect(str(warehouse.duckdb_path)) as con:
        for sql in statements:
            con.execute(sql)


def failing(evaluation: AssetCheckEvaluation) -> int:
    return evaluation.metadata["failing_rows"].value  # type: ignore[return-value]


def examples(evaluation: AssetCheckEvaluation) -> list:
    return evaluation.metadata["examples"].value  # type: ignore[return-value]


@pytest.fixture
def dataset() -> Dataset:
    """Traffic up to today, so the data-freshness check passes unless a test breaks it."""
    return Dataset.demo(anchor=TODAY)


@pytest.fixture
def loaded(runner: Runner) -> Runner:
    assert runner.materialize().success
    return runner


def test_every_check_passes_on_a_clean_sync(runner: Runner) -> None:
    result = runner.materialize(with_checks=True)

    results = evaluations(result)
    assert len(results) == UNPARTITIONED_CHECKS
    assert [key for key, e in results.items() if not e.passed] == []


def test_duplicate_key_fails_the_primary_key_check_with_the_key(loaded: Runner) -> None:
    tamper(
        loaded.warehouse,
        "insert into gitbook.content select * from gitbook.content where id = 'intro' limit 1",
    )

    check = evaluations(loaded.run_checks())["gitbook/content:primary_key_is_unique_and_not_null"]

    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert failing(check) == 2
    [[space_id, page_id]] = examples(check)
    assert page_id == "intro" and space_id


def test_null_key_fails_the_primary_key_check(loaded: Runner) -> None:
    tamper(
        loaded.warehouse,
        "alter table gitbook.insights_traffic alter column space_id drop not null",
        "update gitbook.insights_traffic set space_id = null where rowid = 0",
    )

    check = evaluations(loaded.run_checks())[
        "gitbook/insights_traffic:primary_key_is_unique_and_not_null"
    ]

    assert not check.passed and failing(check) == 1


def test_orphan_space_id_fails_the_parent_check_naming_the_space(
    loaded: Runner, dataset: Dataset
) -> None:
    orphan = dataset.awkward_space_id
    tamper(loaded.warehouse, f"delete from gitbook.spaces where id = '{orphan}'")

    results = evaluations(loaded.run_checks())

    content = results["gitbook/content:space_id_exists_in_spaces"]
    traffic = results["gitbook/insights_traffic:space_id_exists_in_spaces"]
    assert not content.passed and not traffic.passed
    assert examples(content) == [orphan] and examples(traffic) == [orphan]
    assert failing(traffic) == len(dataset.traffic_of(orphan))
    assert results["gitbook/org_members:organization_id_exists_in_organizations"].passed


def test_missing_column_and_changed_type_fail_the_schema_check(loaded: Runner) -> None:
    tamper(
        loaded.warehouse,
        "alter table gitbook.users drop column email",
        "alter table gitbook.organizations alter column invite_links type varchar",
    )

    results = evaluations(loaded.run_checks())

    users = results["gitbook/users:declared_columns_have_declared_types"]
    orgs = results["gitbook/organizations:declared_columns_have_declared_types"]
    assert not users.passed and examples(users) == ["email: missing"]
    assert not orgs.passed and examples(orgs) == ["invite_links: text (declared bool)"]


def test_negative_count_fails_the_traffic_values_check(loaded: Runner) -> None:
    tamper(loaded.warehouse, "update gitbook.insights_traffic set count = -5 where rowid < 3")

    check = evaluations(loaded.run_checks())[
        "gitbook/insights_traffic:counts_are_non_negative_integers_and_timestamps_not_in_future"
    ]

    assert not check.passed and failing(check) == 3
    assert all(example[2] == -5 for example in examples(check))


def test_future_timestamps_served_by_the_api_fail_the_traffic_values_check(
    warehouse: Warehouse, instance
) -> None:
    future = Dataset.demo(anchor=TODAY + timedelta(days=3))
    with FakeGitBookAPI(dataset=future, token=TEST_TOKEN, api_version=LEGACY_TRAFFIC_API) as api:
        result = Runner(api, warehouse, instance).materialize(
            ["organizations", "spaces", "insights_traffic"], with_checks=True
        )

    check = evaluations(result)[
        "gitbook/insights_traffic:counts_are_non_negative_integers_and_timestamps_not_in_future"
    ]
    per_space_future_points = 3
    spaces_with_traffic = sum(1 for s in future.spaces if future.traffic_of(s["id"]))
    assert not check.passed
    assert failing(check) == per_space_future_points * spaces_with_traffic


def test_empty_users_table_is_a_warning_not_an_error(loaded: Runner) -> None:
    tamper(loaded.warehouse, "delete from gitbook.users")

    check = evaluations(loaded.run_checks())["gitbook/users:has_rows"]

    assert not check.passed and check.severity == AssetCheckSeverity.WARN


def test_an_old_load_fails_the_load_freshness_check(loaded: Runner) -> None:
    loaded.clock = lambda: datetime.now(timezone.utc) + timedelta(hours=3)

    results = evaluations(loaded.run_checks())

    # insights_traffic's window is 2 hours, the others' 26 hours.
    assert not results["gitbook/insights_traffic:was_loaded_within_freshness_window"].passed
    assert results["gitbook/spaces:was_loaded_within_freshness_window"].passed
    loaded.clock = lambda: datetime.now(timezone.utc) + timedelta(hours=27)
    results = evaluations(loaded.run_checks())
    stale = [k for k, e in results.items() if "freshness_window" in k and not e.passed]
    # Every table: the 7 unpartitioned ones, and the 5 site insights tables no load here wrote.
    assert len(stale) == 12
    assert (
        "window"
        in results["gitbook/users:was_loaded_within_freshness_window"].metadata["detail"].value
    )


def test_an_api_serving_stale_traffic_fails_the_data_freshness_check(
    warehouse: Warehouse, instance
) -> None:
    stale = Dataset.demo(anchor=date(2024, 6, 30))
    with FakeGitBookAPI(dataset=stale, token=TEST_TOKEN, api_version=LEGACY_TRAFFIC_API) as api:
        result = Runner(api, warehouse, instance).materialize(with_checks=True)

    check = evaluations(result)["gitbook/insights_traffic:newest_point_is_recent"]
    assert not check.passed
    assert examples(check) == ["2024-06-30T00:00:00+00:00"]


def test_a_failing_blocking_check_stops_downstream_assets_in_the_same_run(
    loaded: Runner,
) -> None:
    # A manual change of a column's type survives the next sync: a replace swaps the rows,
    # not the table's definition.
    tamper(loaded.warehouse, "alter table gitbook.organizations alter created_at type varchar")

    @asset(deps=[AssetKey(["gitbook", "organizations"])])
    def organization_report() -> None:
        """A downstream consumer that must not read a mistyped table."""

    result = loaded.materialize(
        with_checks=True, extra_assets=[organization_report], raise_on_error=False
    )

    check = evaluations(result)["gitbook/organizations:declared_columns_have_declared_types"]
    assert not check.passed and examples(check) == ["created_at: text (declared timestamp)"]
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert AssetKey(["gitbook", "organizations"]) in materialized
    assert AssetKey("organization_report") not in materialized
    assert "organization_report" not in {e.step_key for e in result.all_events}
    records = loaded.instance.all_logs(result.run_id)
    assert any(
        "Dependencies for step organization_report failed: ['gitbook_checks']"
        in record.user_message
        for record in records
    )


def test_checks_report_missing_tables_instead_of_crashing(runner: Runner, tmp_path: Path) -> None:
    assert runner.materialize(["users"]).success

    results = evaluations(runner.run_checks())

    content = results["gitbook/content:primary_key_is_unique_and_not_null"]
    assert not content.passed
    assert "does not exist" in content.metadata["detail"].value
    assert results["gitbook/users:primary_key_is_unique_and_not_null"].passed
