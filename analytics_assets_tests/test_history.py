"""History tables: versions with exact intervals over several syncs, and nothing closed that a
run did not see (a refused or vanished organization, a subset selection, a failed run)."""

from datetime import datetime, timezone

import pytest
from dagster import AssetKey, ExecuteInProcessResult

from analytics_assets.defs.sync.assets import HISTORY_AS_OF_KEY
from analytics_assets.devtools.fake_api import FakeGitBookAPI, Fault
from analytics_assets.devtools.fake_api.dataset import make_user
from analytics_assets.devtools.fake_api.edits import (
    with_member,
    with_member_fields,
    with_space_fields,
)
from analytics_assets.devtools.fake_api.server import ORG_MEMBERS, SPACE_CONTENT
from analytics_assets_tests.harness import Runner

ORG, NEW = "org-acme", "user-newcomer"


def as_of(result: ExecuteInProcessResult, table: str) -> datetime:
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization.asset_key == AssetKey(["gitbook", table]):
            stamp = materialization.metadata[HISTORY_AS_OF_KEY].value
            return datetime.fromtimestamp(stamp, timezone.utc)  # type: ignore[arg-type]
    raise AssertionError(f"{table} was not materialized")


def versions(runner: Runner, member: str = NEW) -> list[tuple]:
    return runner.warehouse.query(
        "select role, valid_from, valid_to from gitbook.org_members_history "
        "where organization_id = ? and id = ? order by valid_from",
        [ORG, member],
    )


def close(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs((a - b).total_seconds()) < 0.001


def sync(runner: Runner, **kwargs) -> ExecuteInProcessResult:
    result = runner.materialize(**kwargs)
    assert result.success
    return result


def test_join_change_role_leave_gives_exact_intervals(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    user = make_user(NEW, "New Comer", "new@example.com")
    fake_api.dataset = with_member(fake_api.dataset, ORG, user, "read")
    t1 = as_of(sync(runner), "org_members_history")
    fake_api.dataset = with_member_fields(fake_api.dataset, ORG, NEW, role="admin")
    t2 = as_of(sync(runner), "org_members_history")
    fake_api.dataset = fake_api.dataset.without(members=[(ORG, NEW)])
    t3 = as_of(sync(runner), "org_members_history")

    rows = versions(runner)
    assert [row[0] for row in rows] == ["read", "admin"]
    (_, from1, to1), (_, from2, to2) = rows
    assert to1 == from2  # one boundary: no gap, no overlap
    assert close(from1, t1) and close(to1, t2) and close(to2, t3)
    # Everyone else has exactly one open version, opened by the first sync.
    others = runner.warehouse.query(
        "select count(*), min(valid_from), max(valid_to) from gitbook.org_members_history "
        "where id <> ?",
        [NEW],
    )
    assert others[0][0] == runner.warehouse.count("org_members")
    assert close(others[0][1], t1) and others[0][2] is None


@pytest.mark.parametrize("status", [403, 404])
def test_an_unread_organization_closes_nothing(
    runner: Runner, fake_api: FakeGitBookAPI, status: int
) -> None:
    member = fake_api.dataset.members_of(ORG)[0]["id"]
    sync(runner)
    fake_api.dataset = fake_api.dataset.without(members=[(ORG, member)])
    path = f"/v1/orgs/{ORG}/members"
    fake_api.add_fault(Fault(route=ORG_MEMBERS, match_path=path, status=status, times=None))

    sync(runner)

    assert [row[2] for row in versions(runner, member)] == [None]
    open_in_other_orgs = runner.warehouse.query(
        "select count(*) from gitbook.org_members_history where organization_id <> ? "
        "and valid_to is null",
        [ORG],
    )
    assert (
        open_in_other_orgs[0][0]
        == runner.warehouse.query(
            "select count(*) from gitbook.org_members where organization_id <> ?", [ORG]
        )[0][0]
    )


def test_a_subset_without_the_current_table_closes_nothing(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    member = fake_api.dataset.members_of(ORG)[0]["id"]
    sync(runner)
    fake_api.dataset = fake_api.dataset.without(members=[(ORG, member)])

    sync(runner, selection=["org_members_history", "spaces"])

    assert [row[2] for row in versions(runner, member)] == [None]


def test_a_failed_run_closes_nothing(runner: Runner, fake_api: FakeGitBookAPI) -> None:
    member = fake_api.dataset.members_of(ORG)[0]["id"]
    sync(runner)
    fake_api.dataset = fake_api.dataset.without(members=[(ORG, member)])
    fake_api.add_fault(Fault(route=SPACE_CONTENT, status=500, times=None))

    assert not runner.materialize(raise_on_error=False, full_refetch=True).success

    assert [row[2] for row in versions(runner, member)] == [None]


def test_a_space_made_public_is_one_new_version(runner: Runner, fake_api: FakeGitBookAPI) -> None:
    space = next(s["id"] for s in fake_api.dataset.spaces if s["visibility"] != "public")
    sync(runner)
    fake_api.dataset = with_space_fields(fake_api.dataset, space, visibility="public")
    t2 = as_of(sync(runner), "spaces_history")

    rows = runner.warehouse.query(
        "select visibility, valid_from, valid_to from gitbook.spaces_history where id = ? "
        "order by valid_from",
        [space],
    )
    assert [row[0] for row in rows][-1] == "public" and len(rows) == 2
    assert rows[0][2] == rows[1][1] and close(rows[1][1], t2) and rows[1][2] is None
