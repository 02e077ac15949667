"""A running sync reports pages fetched and rows so far per resource in the run log, at a rate
bounded by time rather than by rows."""

import re
from collections.abc import Iterator

import pytest
from dagster import materialize

from analytics_assets.defs.sync.assets import build_gitbook_assets
from analytics_assets.devtools.fake_api import LEGACY_TRAFFIC_API, Dataset, FakeGitBookAPI
from analytics_assets.gitbook.settings import RESOURCES
from analytics_assets_tests.harness import TEST_TOKEN, Runner

PAGES_LINE = re.compile(r"^(?P<resource>\w+) \(pages\): (?P<count>\d+)", re.MULTILINE)
ROWS_LINE = re.compile(r"^(?P<resource>\w+): (?P<count>\d+) ", re.MULTILINE)


@pytest.fixture
def dataset() -> Dataset:
    """Thousands of rows over hundreds of pages: a per-row or per-page logger would show."""
    return Dataset.generate(
        orgs=2,
        spaces_per_org=3,
        members_per_org=400,
        pages_per_space=120,
        traffic_points_per_space=60,
    )


@pytest.fixture
def fake_api(dataset: Dataset) -> Iterator[FakeGitBookAPI]:
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, api_version=LEGACY_TRAFFIC_API) as api:
        yield api


def progress_messages(runner: Runner, progress_seconds: float) -> list[str]:
    result = materialize(
        [build_gitbook_assets(progress_seconds=progress_seconds)],
        instance=runner.instance,
        # Pages of 10 (not GitBook's 1000) so that lists take many pages.
        resources=runner.resources(page_size=10),
    )
    assert result.success
    logs = runner.instance.all_logs(result.run_id)
    return [entry.user_message for entry in logs if "(pages):" in entry.user_message]


def test_progress_counts_pages_and_rows_per_resource(runner: Runner, dataset: Dataset) -> None:
    messages = progress_messages(runner, progress_seconds=3600)

    final = messages[-1]  # the extract step's closing report
    pages = {m["resource"]: int(m["count"]) for m in PAGES_LINE.finditer(final)}
    rows = {m["resource"]: int(m["count"]) for m in ROWS_LINE.finditer(final)}
    served = {
        spec.name: sum(r.status == 200 for r in runner.api.requests_to(spec.path))
        for spec in RESOURCES
    }
    assert pages == served
    assert pages["org_members"] == 2 * 40  # 400 members per org, 10 per page
    expected_rows = dataset.expected_row_counts()
    # Content also extracts one marker row per space (content.py), kept out of the table.
    expected_rows["content"] += len(dataset.spaces)
    assert {name: rows[name] for name in expected_rows} == expected_rows


def test_progress_is_bounded_by_time_not_rows(runner: Runner, dataset: Dataset) -> None:
    """With a period longer than the run, dlt's collector reports each step when it starts
    and when it stops: a handful of records for thousands of rows."""
    messages = progress_messages(runner, progress_seconds=3600)

    assert sum(dataset.expected_row_counts().values()) > 1000
    assert 1 <= len(messages) <= 3


def test_a_slow_sync_reports_growing_counts_while_it_runs(runner: Runner) -> None:
    runner.api.latency = 0.03  # 80 member pages, 40 per org in sequence: over a second
    messages = progress_messages(runner, progress_seconds=0.2)

    member_pages = [
        int(m["count"])
        for message in messages
        for m in PAGES_LINE.finditer(message)
        if m["resource"] == "org_members"
    ]
    assert len(member_pages) >= 3
    assert member_pages == sorted(member_pages)
    assert member_pages[0] < member_pages[-1] == 80
