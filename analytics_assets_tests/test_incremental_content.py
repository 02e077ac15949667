"""Content by revision: a re-sync fetches only new and edited spaces, replaces an edited space's
pages exactly, remembers what it loaded in the destination, and can be forced to fetch all."""

import shutil

import pytest

from analytics_assets.defs.resources import FULL_REFETCH_ENV
from analytics_assets.devtools.fake_api import FakeGitBookAPI, Fault
from analytics_assets.devtools.fake_api.edits import edited_spaces, retitled
from analytics_assets.devtools.fake_api.server import SPACE_CONTENT
from analytics_assets_tests.harness import Runner

EDITED = "acme-handbook"


def content_requests(api: FakeGitBookAPI) -> set[str]:
    """Spaces whose content was asked for (any page of it)."""
    prefix, suffix = "/v1/spaces/", "/content"
    return {
        r.path[len(prefix) : -len(suffix)]
        for r in api.requests_to(SPACE_CONTENT)
        if r.status == 200
    }


def pages(runner: Runner, space_id: str) -> dict[str, tuple]:
    rows = runner.warehouse.query(
        "select id, title, parent_page_id, revision_id from gitbook.content where space_id = ?",
        [space_id],
    )
    return {row[0]: row[1:] for row in rows}


def served(api: FakeGitBookAPI, space_id: str) -> dict[str, str]:
    def walk(nodes: list) -> dict[str, str]:
        out: dict[str, str] = {}
        for page in nodes:
            out[page["id"]] = page["title"]
            out.update(walk(page.get("pages") or []))
        return out

    return walk(list(api.dataset.pages_of(space_id)))


def resync(runner: Runner, **kwargs) -> set[str]:
    runner.api.clear_requests()
    result = runner.materialize(**kwargs)
    assert result.success
    return content_requests(runner.api)


def test_a_resync_fetches_no_unchanged_space(runner: Runner, fake_api: FakeGitBookAPI) -> None:
    first = resync(runner)
    assert first == {s["id"] for s in fake_api.dataset.spaces}  # the empty space too
    before = runner.warehouse.query("select * exclude (_dlt_load_id, _dlt_id) from gitbook.content")

    assert resync(runner) == set()

    after = runner.warehouse.query("select * exclude (_dlt_load_id, _dlt_id) from gitbook.content")
    assert sorted(after, key=str) == sorted(before, key=str)
    assert fake_api.requests_to("/v1/orgs/{organizationId}/spaces")  # spaces were listed


def test_an_edited_space_is_replaced_exactly(runner: Runner, fake_api: FakeGitBookAPI) -> None:
    resync(runner)
    others = {s["id"]: pages(runner, s["id"]) for s in fake_api.dataset.spaces if s["id"] != EDITED}
    dataset = fake_api.dataset.without(pages=[(EDITED, "glossary")])
    fake_api.dataset = retitled(dataset, EDITED, "intro", "Start here")
    revision = fake_api.dataset.space(EDITED)["revision"]

    assert resync(runner) == {EDITED}

    loaded = pages(runner, EDITED)
    assert {pid: row[0] for pid, row in loaded.items()} == served(fake_api, EDITED)
    assert "glossary" not in loaded and loaded["intro"][0] == "Start here"
    assert {row[2] for row in loaded.values()} == {revision}
    assert {s: pages(runner, s) for s in others} == others


def test_a_deleted_space_loses_its_pages_and_a_new_space_is_fetched(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    resync(runner)
    fake_api.dataset = fake_api.dataset.without(spaces=[EDITED])

    assert resync(runner) == set()
    assert pages(runner, EDITED) == {}


def test_what_was_loaded_survives_a_lost_pipelines_folder(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    resync(runner)
    shutil.rmtree(runner.warehouse.pipelines_dir)
    fake_api.dataset = edited_spaces(fake_api.dataset, [EDITED])

    assert resync(runner) == {EDITED}


@pytest.mark.parametrize("how", ["run_config", "env"])
def test_a_full_refetch_fetches_every_space(
    runner: Runner, fake_api: FakeGitBookAPI, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    resync(runner)
    before = runner.warehouse.count("content")
    if how == "env":
        monkeypatch.setenv(FULL_REFETCH_ENV, "true")
        fetched = resync(runner)
    else:
        config = {"ops": {"gitbook": {"config": {"full_refetch": True}}}}
        fetched = resync(runner, run_config=config)

    assert fetched == {s["id"] for s in fake_api.dataset.spaces}
    assert runner.warehouse.count("content") == before


def test_the_run_log_counts_fetched_and_unchanged_spaces(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    resync(runner)
    fake_api.dataset = edited_spaces(fake_api.dataset, [EDITED])

    result = runner.materialize()

    assert result.success
    logs = runner.instance.all_logs(result.run_id)
    text = "\n".join(str(entry.user_message) for entry in logs)
    total = len(fake_api.dataset.spaces)
    assert f"fetched 1 spaces, skipped {total - 1} unchanged" in text


def test_a_failed_run_loses_nothing_and_the_next_run_fetches_the_edit(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    resync(runner)
    old = pages(runner, EDITED)
    fake_api.dataset = fake_api.dataset.without(pages=[(EDITED, "glossary")])
    fake_api.add_fault(
        Fault(route=SPACE_CONTENT, match_path=f"/v1/spaces/{EDITED}/content", status=500, times=4)
    )

    failed = runner.materialize(raise_on_error=False)

    assert not failed.success
    assert pages(runner, EDITED) == old
    assert resync(runner) == {EDITED}
    assert set(pages(runner, EDITED)) == set(served(fake_api, EDITED))
