"""docs/queries.md's "A look at the data" runs as written, on what a real sync loads.

The SQL and Python are read out of docs/queries.md itself, so the documentation and this test
cannot drift apart: edit a query there and this test runs the edited one.
"""

import ast
import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timezone
from typing import Any

import pytest

from analytics_assets.devtools.fake_api import Dataset
from analytics_assets.devtools.fake_api.dataset import flatten_pages
from analytics_assets_tests.demo_loads import DemoLoads
from analytics_assets_tests.doc_sections import QUERIES_DOC, code_blocks, doc_section

SECTION_TITLE = "## A look at the data"
# West of UTC, so a query that took the session's time zone for the day would shift every point.
WEST_OF_UTC = "Pacific/Honolulu"
# The tables the section's queries and snippets read.
DOC_TABLES = {
    "users",
    "organizations",
    "spaces",
    "org_members",
    "sites",
    "content",
    "insights_traffic",
}

Rows = list[tuple[Any, ...]]


def queries_section() -> str:
    """The section's text, up to the next `## ` heading; it must sit right before History."""
    return doc_section(QUERIES_DOC, SECTION_TITLE, followed_by="## History")


@pytest.fixture(scope="module")
def loaded(demo_loads: DemoLoads) -> DemoLoads:
    """What `python -m analytics_assets.devtools.demo` loads (the session's demo loads): the
    full sync and the last week of site insights, with today's traffic so every check passes.
    The API is in its 0.91 profile, so that the traffic query has space traffic to sum."""
    # Each table the section reads must hold exactly what the API served.
    expected = demo_loads.dataset.expected_row_counts()
    for table in sorted(DOC_TABLES):
        assert demo_loads.query(f"select count(*) from gitbook.{table}") == [(expected[table],)]
    site_rows = demo_loads.query("select count(*) from gitbook.site_insights_daily")
    assert site_rows == [(demo_loads.dataset.expected_site_insight_rows(demo_loads.days),)]
    return demo_loads


@pytest.fixture(scope="module")
def queries() -> list[str]:
    blocks = code_blocks(queries_section(), "sql")
    assert len(blocks) == 4, "top pages, traffic per day, members by role, broken URLs"
    return blocks


def _title(dataset: Dataset, space_id: str) -> str:
    return dataset.space(space_id)["title"]


def _org_titles(dataset: Dataset) -> dict[str, str]:
    return {org["id"]: org["title"] for org in dataset.organizations}


def _utc_day(timestamp: str) -> date:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(timezone.utc).date()


def test_top_pages_query_ranks_pages_by_the_page_views_the_api_served(
    loaded: DemoLoads, queries: list[str]
) -> None:
    dataset = loaded.dataset
    views: Counter[tuple[str, str]] = Counter()
    for site in dataset.sites:
        for day in loaded.days:
            for atom in dataset.site_events(site["id"], day):
                people = atom.visitor_bot is None
                if people and atom.event_type == "page_view" and atom.page is not None:
                    page_id, space_id = atom.page
                    views[(space_id, page_id)] += atom.events
    titles = {
        (space["id"], page["id"]): page["title"]
        for space in dataset.spaces
        for page in flatten_pages(dataset.pages_of(space["id"]))
    }
    expected = sorted(
        ((titles[key], _title(dataset, key[0]), count) for key, count in views.items()),
        key=lambda row: (-row[2], row[0], row[1]),
    )

    rows = loaded.query(queries[0])

    assert rows == expected[:10]
    assert len(rows) == 10 and rows[0][2] > rows[-1][2]


def test_traffic_per_day_query_sums_each_utc_day_whatever_the_session_time_zone(
    loaded: DemoLoads, queries: list[str]
) -> None:
    dataset = loaded.dataset
    expected: dict[tuple[str, date], int] = defaultdict(int)
    for space_id in dataset.traffic_by_space:
        for point in dataset.traffic_of(space_id):
            expected[(_title(dataset, space_id), _utc_day(point["timestamp"]))] += point["count"]

    for time_zone in (None, WEST_OF_UTC):
        rows = loaded.query(queries[1], time_zone=time_zone)
        assert rows == [
            (space, day, views)
            for (space, day), views in sorted(expected.items(), key=lambda i: (i[0][1], i[0][0]))
        ]
    assert {row[1] for row in rows} == {
        _utc_day(point["timestamp"])
        for views in dataset.traffic_by_space.values()
        for point in views.views
    }
    assert sum(row[2] for row in rows) == sum(t.total for t in dataset.traffic_by_space.values())


def test_members_by_role_query_counts_every_member_including_guests(
    loaded: DemoLoads, queries: list[str]
) -> None:
    dataset = loaded.dataset
    orgs = _org_titles(dataset)
    members: Counter[tuple[str, str]] = Counter()
    disabled: Counter[tuple[str, str]] = Counter()
    for org_id, rows in dataset.members_by_org.items():
        for member in rows:
            key = (orgs[org_id], member["role"] or "guest")
            members[key] += 1
            disabled[key] += bool(member["disabled"])

    rows = loaded.query(queries[2])

    assert rows == [
        (org, role, members[org, role], disabled[org, role]) for org, role in sorted(members)
    ]
    assert sum(row[2] for row in rows) == dataset.expected_row_counts()["org_members"]
    # The demo has a guest (null role) and a disabled reader; both must show.
    assert ("Globex Corporation", "guest", 1, 0) in rows
    assert ("Acme Docs", "read", 2, 1) in rows


def test_python_snippets_run_as_written_from_the_repository_root(loaded: DemoLoads) -> None:
    """Each ```python block of the section, run by the project's interpreter in a directory laid
    out like the repository after the demo."""
    duckdb_snippet, dlt_snippet = code_blocks(queries_section(), "python")
    env = {**os.environ, "DLT_DATA_DIR": str(loaded.root / "dlt_data")}
    outputs = []
    for snippet in (duckdb_snippet, dlt_snippet):
        completed = subprocess.run(
            [sys.executable, "-c", snippet],
            cwd=loaded.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        outputs.append(completed.stdout)

    dataset = loaded.dataset
    for space in dataset.spaces:
        assert space["title"] in outputs[0]

    row_counts, spaces, views = (ast.literal_eval(line) for line in outputs[1].splitlines())
    expected_counts = dataset.expected_row_counts()
    assert {t: n for t, n in row_counts if t in DOC_TABLES} == {
        t: n for t, n in expected_counts.items() if t in DOC_TABLES
    }
    assert set(spaces) == {(space["id"], space["title"]) for space in dataset.spaces}
    assert dict(views) == {s: t.total for s, t in dataset.traffic_by_space.items()}


def test_broken_urls_query_lists_the_404s_per_site(loaded: DemoLoads, queries: list[str]) -> None:
    dataset = loaded.dataset
    views: Counter[tuple[str, str]] = Counter()
    for site in dataset.sites:
        for day in loaded.days:
            for atom in dataset.site_events(site["id"], day):
                if atom.is_broken_url:
                    views[(site["title"], atom.url_path)] += atom.events
    expected = sorted(
        ((site, path, count) for (site, path), count in views.items()),
        key=lambda row: (-row[2], row[0], row[1]),
    )

    rows = loaded.query(queries[3])

    assert rows == expected[:20]
    assert rows, "the demo serves at least one 404 per site and day"
