"""Real GitBook accounts are often sparse: the jobs users run stay green, exact and checked on
every such shape, on a first sync and on a re-sync, and against both API profiles.

Each case runs what a user runs: the `gitbook_full_sync` job and the site insights job (each with
its checks, in process), and the CI gate from its command-line entry point.
"""

from collections.abc import Callable
from datetime import date

import pytest
from dagster import AssetCheckSeverity, DagsterInstance, ExecuteInProcessResult

from analytics_assets.defs.resources import BASE_URL_ENV, TOKEN_ENV
from analytics_assets.devtools import gate
from analytics_assets.devtools.bundled import recent_days, run_full_sync, run_site_insights
from analytics_assets.devtools.fake_api import (
    LEGACY_TRAFFIC_API,
    TODAY_API,
    Dataset,
    FakeGitBookAPI,
    Fault,
)
from analytics_assets.devtools.fake_api.server import SPACE_TRAFFIC
from analytics_assets.gitbook.settings import RESOURCES, SITE_INSIGHTS_DAILY, SITE_INSIGHTS_TABLES
from analytics_assets_tests.harness import (
    ALL_CHECKS,
    TEST_TOKEN,
    UNPARTITIONED_CHECKS,
    Runner,
    Warehouse,
    failure_message,
)

TABLES = [spec.name for spec in RESOURCES]
API_PROFILES = (TODAY_API, LEGACY_TRAFFIC_API)
DAYS = recent_days(2)


def no_sites(d: Dataset) -> Dataset:
    return d.without(sites=[site["id"] for site in d.sites])


def an_org_without_spaces(d: Dataset) -> Dataset:
    return d.without(spaces=[space["id"] for space in d.spaces_of(d.organizations[-1]["id"])])


def no_space_has_pages(d: Dataset) -> Dataset:
    return d.without(pages=[(s["id"], p["id"]) for s in d.spaces for p in d.pages_of(s["id"])])


def no_events_on_the_days(d: Dataset) -> Dataset:
    return d.without(site_days=[(site["id"], day) for site in d.sites for day in DAYS])


def no_organizations(d: Dataset) -> Dataset:
    return d.without(orgs=[org["id"] for org in d.organizations])


SHAPES: dict[str, Callable[[Dataset], Dataset]] = {
    "no_sites": no_sites,
    "an_org_without_spaces": an_org_without_spaces,
    "no_space_has_pages": no_space_has_pages,
    "no_events_on_the_days": no_events_on_the_days,
    "no_organizations": no_organizations,
}


def table_counts(warehouse: Warehouse) -> dict[str, int]:
    return {table: warehouse.count(table) for table in TABLES}


def failed_checks(result: ExecuteInProcessResult) -> dict[str, AssetCheckSeverity]:
    return {
        e.asset_check_key.to_user_string(): e.severity
        for e in result.get_asset_check_evaluations()
        if not e.passed
    }


def expected_warnings(dataset: Dataset) -> dict[str, AssetCheckSeverity]:
    """Only a token that sees no organization is suspicious, and only as a warning."""
    if dataset.organizations:
        return {}
    return {"gitbook/organizations:has_rows": AssetCheckSeverity.WARN}


def sync_twice(api: FakeGitBookAPI, runner: Runner, **expected_overrides: int) -> None:
    """The full sync and the site insights job, twice each (a first sync, then a re-sync)."""
    gitbook, warehouse = runner.gitbook(), runner.warehouse.resource()
    dataset = api.dataset
    expected = {**api.expected_row_counts(), **expected_overrides}
    for attempt in ("first sync", "re-sync"):
        full = run_full_sync(gitbook, warehouse, instance=runner.instance)
        assert full.success, f"{attempt}: {failure_message(full)}"
        assert len(full.get_asset_check_evaluations()) == UNPARTITIONED_CHECKS
        assert failed_checks(full) == expected_warnings(dataset), attempt
        # Every table exists, with exactly what the API serves (zero rows included).
        assert runner.warehouse.tables() >= set(TABLES)
        assert table_counts(runner.warehouse) == expected, attempt

        insights = run_site_insights(gitbook, warehouse, DAYS, instance=runner.instance)
        assert insights.success, f"{attempt}: {failure_message(insights)}"
        assert len(insights.get_asset_check_evaluations()) == 7 * len(SITE_INSIGHTS_TABLES)
        assert failed_checks(insights) == {}, attempt
        assert runner.warehouse.count(SITE_INSIGHTS_DAILY.name) == (
            dataset.expected_site_insight_rows(DAYS)
        )


# The two API profiles differ only in the space traffic endpoint: the shapes with spaces but
# some without pages or without spaces in one organization run against both; an account with
# no organization has no space to ask, and the site shapes leave spaces as they are.
SHAPE_PROFILES = [
    pytest.param(shape, version, id=f"{shape}-{version}")
    for shape in SHAPES
    for version in (
        (TODAY_API,)
        if shape in ("no_organizations", "no_sites", "no_events_on_the_days")
        else API_PROFILES
    )
]


@pytest.mark.parametrize(("shape", "api_version"), SHAPE_PROFILES)
def test_the_jobs_are_green_and_exact_on_a_sparse_account(
    shape: str, api_version: str, warehouse: Warehouse, instance: DagsterInstance
) -> None:
    dataset = SHAPES[shape](Dataset.demo(anchor=date.today()))
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, api_version=api_version) as api:
        sync_twice(api, Runner(api, warehouse, instance))


def test_the_traffic_endpoint_answering_410_is_an_empty_table(
    warehouse: Warehouse, instance: DagsterInstance
) -> None:
    dataset = Dataset.demo(anchor=date.today())
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, api_version=LEGACY_TRAFFIC_API) as api:
        api.add_fault(Fault(route=SPACE_TRAFFIC, status=410, times=None))
        sync_twice(api, Runner(api, warehouse, instance), insights_traffic=0)
        statuses = {r.status for r in api.requests_to(SPACE_TRAFFIC)}

    assert statuses == {410}
    assert warehouse.count("insights_traffic") == 0


def test_a_table_that_empties_between_syncs_is_emptied(
    warehouse: Warehouse, instance: DagsterInstance
) -> None:
    """Sites existed on the first sync and are all gone on the second: zero rows, not stale."""
    dataset = Dataset.demo(anchor=date.today())
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN) as api:
        runner = Runner(api, warehouse, instance)
        assert run_full_sync(runner.gitbook(), warehouse.resource(), instance=instance).success
        assert warehouse.count("sites") == len(dataset.sites) > 0
        api.dataset = no_sites(dataset)
        sync_twice(api, runner)


# The gate (a full sync, a week of site insights, the models and every check) on every shape,
# in three runs: shapes that do not exclude each other share an account.
GATE_SHAPES = (
    ("no_organizations",),
    ("no_sites", "an_org_without_spaces"),
    ("no_space_has_pages", "no_events_on_the_days"),
)


def test_the_gate_shapes_cover_every_shape() -> None:
    assert sorted(name for names in GATE_SHAPES for name in names) == sorted(SHAPES)


@pytest.mark.parametrize("shapes", GATE_SHAPES, ids="+".join)
def test_the_ci_gate_passes_on_a_sparse_account(
    shapes: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = Dataset.demo(anchor=date.today())
    for shape in shapes:
        dataset = SHAPES[shape](dataset)
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN) as api:
        monkeypatch.setenv(TOKEN_ENV, TEST_TOKEN)
        monkeypatch.setenv(BASE_URL_ENV, api.base_url)
        status = gate.main(["--api-from-env"])

    out = capsys.readouterr().out
    assert status == 0, out
    # The models build on every shape too: the checks on the tables and the dbt tests.
    assert f"{ALL_CHECKS} checks: 0 ERROR failures" in out and "Gate: pass" in out
