"""docs/queries.md's history queries run as written (dates moved between this test's syncs)."""

import re
from datetime import timedelta

from analytics_assets.devtools.fake_api import FakeGitBookAPI
from analytics_assets.devtools.fake_api.dataset import make_user
from analytics_assets.devtools.fake_api.edits import with_member, with_space_fields
from analytics_assets_tests.doc_sections import QUERIES_DOC, code_blocks, doc_section
from analytics_assets_tests.harness import Runner
from analytics_assets_tests.test_history import as_of, sync


def queries() -> list[str]:
    """The SQL of the last section of docs/queries.md: members on a date, leavers, made public."""
    blocks = code_blocks(doc_section(QUERIES_DOC, "## History"), "sql")
    assert len(blocks) == 3, "members on a date, who left, spaces made public"
    return blocks


def at(sql: str, moment: object) -> str:
    return re.sub(r"timestamp '[^']+'", f"timestamp '{moment}'", sql)


def test_the_documented_history_queries(runner: Runner, fake_api: FakeGitBookAPI) -> None:
    members_on, left_since, made_public = queries()
    org, space = "org-acme", "acme-handbook"
    leaver = fake_api.dataset.members_of(org)[0]["id"]
    fake_api.dataset = with_space_fields(fake_api.dataset, space, visibility="private")
    fake_api.dataset = with_member(fake_api.dataset, org, make_user("u-x", "X", "x@x.io"), "read")
    t1 = as_of(sync(runner), "org_members_history")
    before = len(fake_api.dataset.members_of(org))
    fake_api.dataset = fake_api.dataset.without(members=[(org, leaver)])
    fake_api.dataset = with_space_fields(fake_api.dataset, space, visibility="public")
    t2 = as_of(sync(runner), "org_members_history")
    between = (t1 + (t2 - t1) / 2).replace(tzinfo=None)

    counts = dict(runner.warehouse.query(at(members_on, between)))
    assert counts[org] == before
    assert dict(runner.warehouse.query(at(members_on, t2.replace(tzinfo=None))))[org] == before - 1

    left = runner.warehouse.query(at(left_since, between))
    assert [(row[0], row[1]) for row in left] == [(org, leaver)]

    public = runner.warehouse.query(at(made_public, between))
    assert [row[0] for row in public] == [space]
    assert abs(public[0][2] - t2) < timedelta(milliseconds=1)
