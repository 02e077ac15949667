"""Tokens with partial access: the jobs sync what the token may read, say exactly what it may
not (run log, materialization metadata, a WARN check), and fail only when told to, or when the
token can read nothing useful."""

from datetime import date

import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, ExecuteInProcessResult

from analytics_assets.defs.resources import BASE_URL_ENV, TOKEN_ENV
from analytics_assets.devtools import gate
from analytics_assets.devtools.bundled import recent_days, run_full_sync, run_site_insights
from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI, Fault
from analytics_assets.devtools.fake_api.server import SPACE_CONTENT
from analytics_assets.gitbook.settings import REQUIRE_FULL_ACCESS_ENV, RESOURCES
from analytics_assets.settings import SITE_INSIGHTS_NAMES
from analytics_assets_tests.harness import (
    ALL_CHECKS,
    TEST_TOKEN,
    Runner,
    Warehouse,
    failure_message,
)

TABLES = [spec.name for spec in RESOURCES]
MEMBERS = "/v1/orgs/{organizationId}/members"
READER_ORG = "org-globex"
DAYS = recent_days(2)


@pytest.fixture
def dataset() -> Dataset:
    return Dataset.demo(anchor=date.today())


def counts(warehouse: Warehouse) -> dict[str, int]:
    return {table: warehouse.count(table) for table in TABLES}


def failed(result: ExecuteInProcessResult) -> dict[str, tuple[AssetCheckSeverity, list]]:
    return {
        e.asset_check_key.to_user_string(): (e.severity, e.metadata["examples"].value)
        for e in result.get_asset_check_evaluations()
        if not e.passed
    }


def warnings(instance: DagsterInstance, result: ExecuteInProcessResult) -> list[str]:
    return [
        r.user_message
        for r in instance.all_logs(result.run_id)
        if r.level == 30 and "GitBook refused" in r.user_message
    ]


def metadata(result: ExecuteInProcessResult, table: str) -> dict:
    events = {m.asset_key: m for m in result.get_asset_materialization_events()}
    materialization = events[AssetKey(["gitbook", table])].materialization
    return {key: value.value for key, value in materialization.metadata.items()}


def test_a_reader_organization_is_skipped_without_asking_and_said_so(
    dataset: Dataset, warehouse: Warehouse, instance: DagsterInstance
) -> None:
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN) as api:
        gitbook = Runner(api, warehouse, instance).gitbook()
        # A first sync with full access, then the user is demoted to reader in one org.
        assert run_full_sync(gitbook, warehouse.resource(), instance=instance).success
        assert warehouse.count("org_members") == len(dataset.members_of(READER_ORG)) + len(
            dataset.members_of("org-acme")
        )
        api.reader_orgs = frozenset({READER_ORG})
        api.clear_requests()
        result = run_full_sync(gitbook, warehouse.resource(), instance=instance)
        asked = {r.path for r in api.requests_to(MEMBERS)}

    assert result.success, failure_message(result)
    assert asked == {"/v1/orgs/org-acme/members"}  # the reader org was never asked
    expected = {**api.expected_row_counts(), "org_members": len(dataset.members_of("org-acme"))}
    assert counts(warehouse) == expected
    orgs = warehouse.query("select distinct organization_id from gitbook.org_members")
    assert orgs == [("org-acme",)]  # the reader org's members are removed, and said so
    (warning,) = warnings(instance, result)
    assert f"GitBook refused resource 'org_members' for organizations '{READER_ORG}'" in warning
    assert "listMembers: false" in warning and "holds no rows of it" in warning
    assert REQUIRE_FULL_ACCESS_ENV in warning
    failures = failed(result)
    # The refused org's members were not seen: their versions stay open, and the WARN says so.
    history = failures.pop("gitbook/org_members_history:open_versions_match_current_table")
    assert history[0] == AssetCheckSeverity.WARN
    assert {example[0] for example in history[1]} == {READER_ORG}
    assert failures == {
        "gitbook/org_members:coverage_is_complete": (AssetCheckSeverity.WARN, [READER_ORG])
    }
    coverage = metadata(result, "org_members")
    assert coverage["gitbook/coverage"] == (
        f"org_members of 1 of 2 organizations; refused: {READER_ORG}"
    )
    assert coverage["gitbook/refused"] == [READER_ORG]
    assert metadata(result, "spaces")["gitbook/refused"] == []


def test_a_token_missing_the_members_scope_syncs_everything_else(
    dataset: Dataset, warehouse: Warehouse, instance: DagsterInstance
) -> None:
    with FakeGitBookAPI(
        dataset=dataset, token=TEST_TOKEN, missing_scopes=frozenset({"organization:members:read"})
    ) as api:
        gitbook = Runner(api, warehouse, instance).gitbook()
        result = run_full_sync(gitbook, warehouse.resource(), instance=instance)
        statuses = {r.status for r in api.requests_to(MEMBERS)}

    assert result.success, failure_message(result)
    assert statuses == {403}
    assert counts(warehouse) == {**api.expected_row_counts(), "org_members": 0}
    found = warnings(instance, result)
    assert len(found) == 2
    assert all("HTTP 403" in w and "organization:members:read" in w for w in found)
    orgs = sorted(org["id"] for org in dataset.organizations)
    assert failed(result) == {
        "gitbook/org_members:coverage_is_complete": (AssetCheckSeverity.WARN, orgs)
    }
    assert metadata(result, "org_members")["gitbook/coverage"] == (
        f"org_members of 0 of 2 organizations; refused: {', '.join(orgs)}"
    )


def test_a_token_missing_the_insights_scope_keeps_the_site_insights_job_green(
    dataset: Dataset, warehouse: Warehouse, instance: DagsterInstance
) -> None:
    with FakeGitBookAPI(
        dataset=dataset, token=TEST_TOKEN, missing_scopes=frozenset({"site:insights:read"})
    ) as api:
        gitbook = Runner(api, warehouse, instance).gitbook()
        assert run_full_sync(gitbook, warehouse.resource(), instance=instance).success
        result = run_site_insights(gitbook, warehouse.resource(), DAYS, instance=instance)

    assert result.success, failure_message(result)
    assert counts(warehouse) == api.expected_row_counts()
    assert warehouse.count("site_insights_daily") == 0
    sites = sorted(dataset.published_site_ids())
    found = warnings(instance, result)
    assert len(found) == len(sites)
    assert all("site:insights:read" in w and "HTTP 403" in w for w in found)
    assert all("hold no rows of it for the days this run loads" in w for w in found)
    # One warning per site says it for every table of the endpoint; each table's check warns.
    assert failed(result) == {
        f"gitbook/{table}:coverage_is_complete": (AssetCheckSeverity.WARN, sites)
        for table in SITE_INSIGHTS_NAMES
    }


def test_a_space_refused_its_content_keeps_its_pages_and_says_so(
    dataset: Dataset, warehouse: Warehouse, instance: DagsterInstance
) -> None:
    """`content` is replaced per space: a space whose content GitBook refuses keeps its pages,
    and the warning says so (the tables replaced whole lose a refused parent's rows)."""
    refused = "acme-handbook"
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN) as api:
        runner = Runner(api, warehouse, instance)
        assert run_full_sync(runner.gitbook(), warehouse.resource(), instance=instance).success
        pages = warehouse.query("select id from gitbook.content where space_id = ?", [refused])
        path = f"/v1/spaces/{refused}/content"
        api.add_fault(Fault(route=SPACE_CONTENT, match_path=path, status=403, times=None))
        gitbook = runner.gitbook(full_refetch=True)
        result = run_full_sync(gitbook, warehouse.resource(), instance=instance)

    assert result.success, failure_message(result)
    kept = warehouse.query("select id from gitbook.content where space_id = ?", [refused])
    assert pages and sorted(kept) == sorted(pages)
    (warning,) = warnings(instance, result)
    assert f"GitBook refused resource 'content' for spaces '{refused}'" in warning
    assert "'content' keeps the rows it had of it" in warning


def test_a_token_refused_the_organizations_fails_clearly(
    dataset: Dataset, warehouse: Warehouse, instance: DagsterInstance
) -> None:
    with FakeGitBookAPI(
        dataset=dataset, token=TEST_TOKEN, missing_scopes=frozenset({"organization:read"})
    ) as api:
        gitbook = Runner(api, warehouse, instance).gitbook()
        result = run_full_sync(gitbook, warehouse.resource(), instance=instance)

    assert not result.success
    message = failure_message(result)
    assert "GitBook refused resource 'organizations' at GET /v1/orgs (HTTP 403)" in message
    assert "organization:read" in message and "nothing useful" in message
    assert "GITBOOK_ACCESS_TOKEN" not in message
    assert warehouse.tables() == set()  # nothing was loaded


def test_requiring_full_access_turns_a_refusal_into_a_failure(
    dataset: Dataset,
    warehouse: Warehouse,
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(REQUIRE_FULL_ACCESS_ENV, "true")
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN) as api:
        api.reader_orgs = frozenset({READER_ORG})
        gitbook = Runner(api, warehouse, instance).gitbook()
        result = run_full_sync(gitbook, warehouse.resource(), instance=instance)

    assert not result.success
    message = failure_message(result)
    assert f"GitBook refused resource 'org_members' for organizations '{READER_ORG}'" in message
    assert REQUIRE_FULL_ACCESS_ENV in message and "nothing was loaded" in message
    assert warehouse.tables() == set()


def test_the_ci_gate_passes_with_a_reader_organization_and_shows_the_warning(
    dataset: Dataset, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN) as api:
        api.reader_orgs = frozenset({READER_ORG})
        monkeypatch.setenv(TOKEN_ENV, TEST_TOKEN)
        monkeypatch.setenv(BASE_URL_ENV, api.base_url)
        status = gate.main(["--api-from-env"])

    out = capsys.readouterr().out
    assert status == 0, out
    assert f"{ALL_CHECKS} checks: 0 ERROR failures, 1 WARN failures" in out  # dbt tests too
    assert "coverage_is_complete" in out and "refused: org-globex" in out


LIMITED_TOKENS = {
    # kind: (FakeGitBookAPI settings, the check that warns in the full sync, in site insights)
    "reader_org": ({"reader_orgs": frozenset({READER_ORG})}, "org_members", None),
    "no_members_scope": (
        {"missing_scopes": frozenset({"organization:members:read"})},
        "org_members",
        None,
    ),
    "no_insights_scope": (
        {"missing_scopes": frozenset({"site:insights:read"})},
        None,
        SITE_INSIGHTS_NAMES,
    ),
    "no_sites_scope": ({"missing_scopes": frozenset({"site:read"})}, "sites", None),
    "no_spaces_scope": ({"missing_scopes": frozenset({"space:read"})}, "spaces", None),
}


@pytest.mark.parametrize("kind", LIMITED_TOKENS)
def test_both_jobs_stay_green_and_exact_with_each_limited_token(
    kind: str, dataset: Dataset, warehouse: Warehouse, instance: DagsterInstance
) -> None:
    """Exact rows of what the token may read; one WARN check where it may not; no ERROR."""
    settings, full_warns, insights_warns = LIMITED_TOKENS[kind]
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, **settings) as api:
        gitbook = Runner(api, warehouse, instance).gitbook()
        full = run_full_sync(gitbook, warehouse.resource(), instance=instance)
        insights = run_site_insights(gitbook, warehouse.resource(), DAYS, instance=instance)
        served = {table: api.expected_row_counts()[table] for table in TABLES}

    assert full.success and insights.success
    readable = {
        "reader_org": {"org_members": len(dataset.members_of("org-acme"))},
        "no_members_scope": {"org_members": 0},
        "no_sites_scope": {"sites": 0},
        "no_spaces_scope": {"spaces": 0, "content": 0},
    }.get(kind, {})
    assert counts(warehouse) == {**served, **readable}
    site_rows = 0 if kind in ("no_insights_scope", "no_sites_scope") else None
    expected_sites = dataset.expected_site_insight_rows(DAYS) if site_rows is None else 0
    assert warehouse.count("site_insights_daily") == expected_sites
    for result, tables in ((full, full_warns), (insights, insights_warns)):
        found = failed(result)
        names = (tables,) if isinstance(tables, str) else tables or ()
        expected = {f"gitbook/{table}:coverage_is_complete" for table in names}
        assert set(found) == expected, kind
        assert all(severity == AssetCheckSeverity.WARN for severity, _ in found.values())
