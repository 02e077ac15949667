"""After a successful sync each table equals what GitBook serves: deletions disappear. Without
costing data: a failed run changes nothing, a subset never empties what it did not select, and a
space deleted mid-run keeps its pages until GitBook no longer lists it."""

from datetime import date

import pytest
from dagster import AssetKey, DagsterInstance

from analytics_assets.defs.jobs.jobs import TRAFFIC_SYNC_JOB_NAME
from analytics_assets.devtools.bundled import recent_days, run_full_sync, run_site_insights
from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI, Fault
from analytics_assets.devtools.fake_api.server import SPACE_CONTENT
from analytics_assets.gitbook.settings import RESOURCES
from analytics_assets_tests.harness import Runner, Warehouse, failure_message

TABLES = [spec.name for spec in RESOURCES]
KEYS = {spec.name: ", ".join(spec.primary_key) for spec in RESOURCES}
DAYS = recent_days(2)


@pytest.fixture
def dataset() -> Dataset:
    return Dataset.demo(anchor=date.today())


def keys(warehouse: Warehouse) -> dict[str, set[tuple]]:
    return {t: set(warehouse.query(f"select {KEYS[t]} from gitbook.{t}")) for t in TABLES}


def served_keys(dataset: Dataset) -> dict[str, set[tuple]]:
    """Every table's keys as GitBook serves them (the 0.91 profile: traffic included)."""

    def tree(space: str, pages: list) -> set[tuple]:
        return {(space, p["id"]) for p in pages} | {
            k for p in pages for k in tree(space, p.get("pages") or [])
        }

    orgs = [org["id"] for org in dataset.organizations]
    return {
        "users": {(dataset.user["id"],)},
        "organizations": {(o,) for o in orgs},
        "spaces": {(s["id"],) for s in dataset.spaces},
        "org_members": {(o, m["id"]) for o in orgs for m in dataset.members_of(o)},
        "sites": {(s["id"],) for s in dataset.sites},
        "content": {k for s in dataset.spaces for k in tree(s["id"], dataset.pages_of(s["id"]))},
        "insights_traffic": {
            (s["id"], p["timestamp"]) for s in dataset.spaces for p in dataset.traffic_of(s["id"])
        },
    }


def comparable(found: dict[str, set[tuple]]) -> dict[str, set[tuple]]:
    """Traffic timestamps as the API prints them, so both sides compare as text."""
    traffic = {(s, t.strftime("%Y-%m-%dT%H:%M:%S.000Z")) for s, t in found["insights_traffic"]}
    return {**found, "insights_traffic": traffic}


def deletions(dataset: Dataset) -> Dataset:
    """An org deleted, a space deleted, a member gone, a page removed, a site deleted."""
    return dataset.without(
        orgs=["org-globex"],
        spaces=["acme-api"],
        members=[("org-acme", "user-alan")],
        pages=[("acme-handbook", "glossary"), ("acme-handbook", "guide")],
        sites=["site_changelog"],
    )


def test_a_full_sync_mirrors_deletions_exactly(runner: Runner, fake_api: FakeGitBookAPI) -> None:
    gitbook, warehouse = runner.gitbook(), runner.warehouse.resource()
    assert run_full_sync(gitbook, warehouse, instance=runner.instance).success
    before = keys(runner.warehouse)
    assert comparable(before) == served_keys(fake_api.dataset)

    fake_api.dataset = deletions(fake_api.dataset)
    result = run_full_sync(gitbook, warehouse, instance=runner.instance)

    assert result.success, failure_message(result)
    after = comparable(keys(runner.warehouse))
    assert after == served_keys(fake_api.dataset)
    assert {t: len(rows) for t, rows in after.items()} == fake_api.expected_row_counts()
    for table in TABLES:  # every table lost something except the user
        assert (after[table] < comparable(before)[table]) == (table != "users"), table
    # The member who left is gone; "members per organization" no longer counts them.
    assert ("org-acme", "user-alan") not in after["org_members"]
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_site_insights_mirror_deleted_sites_and_days_that_emptied(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    gitbook, warehouse = runner.gitbook(), runner.warehouse.resource()
    assert run_full_sync(gitbook, warehouse, instance=runner.instance).success
    assert run_site_insights(gitbook, warehouse, DAYS, instance=runner.instance).success
    sites = set(fake_api.dataset.published_site_ids())
    loaded = runner.warehouse.query("select distinct site_id from gitbook.site_insights_daily")
    assert {row[0] for row in loaded} == sites

    # site_changelog is deleted; site_docs has no events on the last day any more.
    quiet = ("site_docs", DAYS[-1])
    fake_api.dataset = fake_api.dataset.without(sites=["site_changelog"], site_days=[quiet])
    assert run_full_sync(gitbook, warehouse, instance=runner.instance).success
    result = run_site_insights(gitbook, warehouse, DAYS[-1:], instance=runner.instance)

    assert result.success, failure_message(result)
    rows = runner.warehouse.query(
        "select site_id, day, count(*) from gitbook.site_insights_daily group by 1, 2"
    )
    per_site_day = {(site, day): n for site, day, n in rows}
    expected = {
        (site["id"], day): len(fake_api.dataset.expected_site_insights(site["id"], day))
        for site in fake_api.dataset.sites
        for day in DAYS
    }
    assert per_site_day == {k: n for k, n in expected.items() if n}
    assert ("site_docs", DAYS[-1]) not in per_site_day  # the day emptied
    # The deleted site's rows are gone on every day, the day not re-run included.
    assert not any(site == "site_changelog" for site, _ in per_site_day)
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_a_failed_run_changes_nothing(runner: Runner, fake_api: FakeGitBookAPI) -> None:
    gitbook, warehouse = runner.gitbook(), runner.warehouse.resource()
    assert run_full_sync(gitbook, warehouse, instance=runner.instance).success
    before = keys(runner.warehouse)

    fake_api.dataset = deletions(fake_api.dataset)
    fake_api.add_fault(Fault(route=SPACE_CONTENT, status=500, times=None))
    result = run_full_sync(gitbook, warehouse, instance=runner.instance)

    assert not result.success
    assert "HTTP 500" in failure_message(result)
    assert keys(runner.warehouse) == before


def test_a_subset_never_empties_or_replaces_tables_it_did_not_select(
    runner: Runner, fake_api: FakeGitBookAPI, instance: DagsterInstance
) -> None:
    gitbook, warehouse = runner.gitbook(), runner.warehouse.resource()
    assert run_full_sync(gitbook, warehouse, instance=instance).success
    before = keys(runner.warehouse)
    fake_api.dataset = deletions(fake_api.dataset)
    served = served_keys(fake_api.dataset)

    # The hourly traffic job: organizations, spaces and traffic only.
    from analytics_assets.definitions import defs

    job = defs().resolve_job_def(TRAFFIC_SYNC_JOB_NAME)
    result = job.execute_in_process(
        instance=instance, resources={"gitbook": gitbook, "warehouse": warehouse}
    )
    assert result.success
    after = comparable(keys(runner.warehouse))
    for table in ("organizations", "spaces", "insights_traffic"):
        assert after[table] == served[table], table
    for table in ("users", "org_members", "sites", "content"):
        assert after[table] == comparable(before)[table], table

    # One asset from the UI: content alone is replaced.
    runner.materialize(["content"])
    after = comparable(keys(runner.warehouse))
    assert after["content"] == served["content"]
    assert after["org_members"] == comparable(before)["org_members"]


def test_a_space_deleted_mid_run_keeps_its_pages_until_it_is_no_longer_listed(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    runner.materialize()
    gone = "acme-handbook"
    pages = runner.warehouse.query("select id from gitbook.content where space_id = ?", [gone])
    assert pages
    # Listed, then deleted before its content was fetched: GitBook answers 404. The run cannot
    # tell a deletion from a refusal here, and `spaces` still lists it: its pages stay.
    fake_api.add_fault(
        Fault(route=SPACE_CONTENT, match_path=f"/v1/spaces/{gone}/content", status=404, times=None)
    )

    result = runner.materialize(full_refetch=True)

    assert result.success
    assert fake_api.requests_to(f"/v1/spaces/{gone}/content")
    kept = runner.warehouse.query("select id from gitbook.content where space_id = ?", [gone])
    assert sorted(kept) == sorted(pages)

    # The next sync no longer lists it: its pages go with it.
    fake_api.dataset = fake_api.dataset.without(spaces=[gone])
    assert runner.materialize().success
    content = runner.warehouse.query("select distinct space_id from gitbook.content")
    assert gone not in {row[0] for row in content}
    with_pages = [s for s in fake_api.dataset.spaces if fake_api.dataset.pages_of(s["id"])]
    assert len(content) == len(with_pages)


def test_configured_space_ids_mirror_only_those_spaces(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    runner.materialize()
    chosen = "acme-handbook"

    result = runner.materialize(space_ids=[chosen])

    assert result.success
    assert runner.warehouse.query("select id from gitbook.spaces") == [(chosen,)]
    content = runner.warehouse.query("select distinct space_id from gitbook.content")
    assert content == [(chosen,)]
    traffic = runner.warehouse.query("select distinct space_id from gitbook.insights_traffic")
    assert traffic == [(chosen,)]
    events = {m.asset_key for m in result.get_asset_materialization_events()}
    assert AssetKey(["gitbook", "spaces"]) in events


def test_materialize_of_the_whole_group_is_the_same_mirror(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    """The UI's "Materialize all" (every asset, no job) mirrors the same way."""
    runner.materialize()
    fake_api.dataset = deletions(fake_api.dataset)
    runner.materialize()
    assert comparable(keys(runner.warehouse)) == served_keys(fake_api.dataset)
