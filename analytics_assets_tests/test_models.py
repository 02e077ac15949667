"""The dbt models, run by Dagster on the bundled API's known data, on DuckDB and PostgreSQL.

Every mart is checked against numbers computed here straight from the bundled API's `Dataset`
(its event atoms, members and pages), never from the warehouse, and the automation conditions
are evaluated against the Dagster instance the loads recorded in.
"""

import os
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance

from analytics_assets.definitions import defs
from analytics_assets.defs.models.project import RUNS_FOLDER, TARGET_PATH_ENV
from analytics_assets.defs.report.assets import DEFAULT_REPORT_PATH, REPORT_KEY
from analytics_assets.defs.report.charts import CHARTS
from analytics_assets.defs.report.render import label
from analytics_assets.defs.resources import WarehouseResource
from analytics_assets.devtools.bundled import (
    recent_days,
    run_models,
)
from analytics_assets.devtools.fake_api import Dataset
from analytics_assets.devtools.fake_api.dataset import SiteEventAtom, flatten_pages
from analytics_assets_tests.demo_loads import DemoLoads, sync_and_build
from analytics_assets_tests.harness import DBT_TESTS, PostgresWarehouse

CREDENTIALS_ENV = "DESTINATION__POSTGRES__CREDENTIALS"
MODELS = {
    "stg_gitbook__organizations",
    "stg_gitbook__spaces",
    "stg_gitbook__pages",
    "stg_gitbook__members",
    "stg_gitbook__sites",
    "stg_gitbook__site_events",
    "stg_gitbook__space_traffic",
    "stg_gitbook__site_searches",
    "stg_gitbook__page_feedback",
    "stg_gitbook__ai_questions",
    "stg_gitbook__site_audience",
    "int_page_views",
    "int_not_found_urls",
    "int_last_site_insights_day",
    "page_views_daily",
    "agent_page_views_daily",
    "top_pages_30d",
    "broken_urls",
    "conditional_404s",
    "unread_pages",
    "members_by_role",
    "space_traffic_daily",
    "search_queries_daily",
    "searches_without_results_30d",
    "worst_rated_pages_30d",
    "worst_rated_answers_30d",
    "audience_daily",
    "insights_report",  # not dbt's: the page drawn from the marts, in the same group
}
# Models that read the site insights tables: they wait for their first partition.
SITE_INSIGHTS_MODELS = {
    "stg_gitbook__site_events",
    "stg_gitbook__site_searches",
    "stg_gitbook__page_feedback",
    "stg_gitbook__ai_questions",
    "stg_gitbook__site_audience",
    "search_queries_daily",
    "searches_without_results_30d",
    "worst_rated_pages_30d",
    "worst_rated_answers_30d",
    "audience_daily",
    "int_page_views",
    "int_not_found_urls",
    "int_last_site_insights_day",
    "page_views_daily",
    "agent_page_views_daily",
    "top_pages_30d",
    "broken_urls",
    "conditional_404s",
    "unread_pages",
    "insights_report",
}
# The marts as a person reads them, in a fixed order.
MART_QUERIES = {
    "top_pages": "select page_rank, space_id, page_id, page_title, space_title, views "
    "from analytics.top_pages_30d order by page_rank",
    "broken_urls": "select site_id, url_path, views, from_search from analytics.broken_urls "
    "order by site_id, url_path",
    "conditional_404s": "select site_id, url_path, views from analytics.conditional_404s "
    "order by site_id, url_path",
    "agent_views": "select day, space_id, page_id, agent, views "
    "from analytics.agent_page_views_daily order by day, space_id, page_id, agent",
    "views_per_day": "select day, sum(views) from analytics.page_views_daily group by day "
    "order by day",
    "members_by_role": "select organization_title, role, members, disabled, idle_seats "
    "from analytics.members_by_role order by organization_title, role",
    "unread_pages": "select space_id, page_id from analytics.unread_pages "
    "order by space_id, page_id",
    "space_traffic": "select space_title, day, views from analytics.space_traffic_daily "
    "order by day, space_title",
    "searches": "select site_id, day, search_query, searches, results_opened, results_without_page "
    "from analytics.search_queries_daily order by site_id, day, search_query",
    "search_gaps": "select site_id, search_query, searches, days_searched, last_searched "
    "from analytics.searches_without_results_30d order by gap_rank",
    "worst_pages": "select space_id, page_id, rating_score, ratings, rated_bad, rated_ok, "
    "rated_good, comments, views from analytics.worst_rated_pages_30d order by page_rank",
    "worst_answers": "select site_id, question, answer_score, ratings, rated_up, rated_down, asked "
    "from analytics.worst_rated_answers_30d order by answer_rank",
    "audience": "select site_id, day, coalesce(referrer_domain, ''), coalesce(country, ''), "
    "device, views, sessions, visitors, counts_are_upper_bounds from analytics.audience_daily "
    "order by 1, 2, 3, 4, 5",
}

Rows = list[tuple[Any, ...]]


def model_key(name: str) -> AssetKey:
    return AssetKey(["analytics", name])


def _atoms(dataset: Dataset, days: list[date]) -> Iterator[tuple[str, date, SiteEventAtom]]:
    for site in dataset.sites:
        for day in days:
            for atom in dataset.site_events(site["id"], day):
                yield site["id"], day, atom


def _page_views(dataset: Dataset, days: list[date]) -> Counter[tuple[date, str, str]]:
    """People's page views per (day, space, page), from the API's event atoms."""
    views: Counter[tuple[date, str, str]] = Counter()
    for _, day, atom in _atoms(dataset, days):
        people = atom.visitor_bot is None
        if people and atom.event_type == "page_view" and atom.page and atom.page[0] is not None:
            page_id, space_id = atom.page
            views[(day, space_id, page_id)] += atom.events
    return views


def expected_marts(dataset: Dataset, days: list[date], now: datetime) -> dict[str, Rows]:
    """Each of MART_QUERIES' answers, computed from the dataset alone."""
    spaces = {space["id"]: space for space in dataset.spaces}
    pages = {
        (space_id, page["id"]): page
        for space_id in spaces
        for page in flatten_pages(dataset.pages_of(space_id))
    }
    views = _page_views(dataset, days)
    per_page: Counter[tuple[str, str]] = Counter()
    for (_, space_id, page_id), count in views.items():
        per_page[(space_id, page_id)] += count
    ranked = sorted(
        per_page.items(),
        key=lambda item: (
            -item[1],
            pages[item[0]]["title"],
            spaces[item[0][0]]["title"],
            *item[0],
        ),
    )
    top_pages = [
        (rank, space_id, page_id, pages[(space_id, page_id)]["title"], spaces[space_id]["title"], n)
        for rank, ((space_id, page_id), n) in enumerate(ranked, start=1)
    ]
    broken = dataset.expected_broken_url_events([s["id"] for s in dataset.sites], days)
    from_search: Counter[tuple[str, str]] = Counter()
    conditional: Counter[tuple[str, str]] = Counter()
    agent_views: Counter[tuple[date, str, str, str]] = Counter()
    for site_id, day, atom in _atoms(dataset, days):
        if atom.is_broken_url and atom.event_type == "search_open_result":
            from_search[(site_id, atom.url_path)] += atom.events
        if atom.is_not_found and atom.page_not_found_type and atom.visitor_bot is None:
            conditional[(site_id, atom.url_path)] += atom.events
        if atom.event_type == "page_view" and atom.page and atom.page[0] and atom.visitor_bot:
            page_id, space_id = atom.page
            agent_views[(day, space_id, page_id, atom.visitor_bot)] += atom.events
    per_day: Counter[date] = Counter()
    for (day, _, _), count in views.items():
        per_day[day] += count

    orgs = {org["id"]: org["title"] for org in dataset.organizations}
    seats: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for org_id, members in dataset.members_by_org.items():
        for member in members:
            row = seats[(orgs[org_id], member["role"] or "guest")]
            last_seen = datetime.fromisoformat(member["lastSeenAt"].replace("Z", "+00:00"))
            row[0] += 1
            row[1] += bool(member["disabled"])
            row[2] += not member["disabled"] and last_seen < now - timedelta(days=90)

    read_spaces = {
        atom.page[1]
        for site in dataset.sites
        for day in days
        for atom in dataset.site_events(site["id"], day)
        if atom.page is not None
    }
    unread = sorted(
        key
        for key, page in pages.items()
        if key[0] in read_spaces and page["type"] == "document" and per_page[key] == 0
    )
    traffic: Counter[tuple[str, date]] = Counter()
    for space_id in dataset.traffic_by_space:
        for point in dataset.traffic_of(space_id):
            moment = datetime.fromisoformat(point["timestamp"].replace("Z", "+00:00"))
            traffic[(spaces[space_id]["title"], moment.astimezone(timezone.utc).date())] += point[
                "count"
            ]
    return {
        **expected_visitor_marts(dataset, days, per_page),
        "top_pages": top_pages,
        "broken_urls": sorted((*key, n, from_search[key]) for key, n in broken.items()),
        "conditional_404s": sorted((*key, n) for key, n in conditional.items()),
        "agent_views": sorted((*key, n) for key, n in agent_views.items()),
        "views_per_day": sorted(per_day.items()),
        "members_by_role": [(org, role, *counts) for (org, role), counts in sorted(seats.items())],
        "unread_pages": unread,
        "space_traffic": sorted(
            ((title, day, n) for (title, day), n in traffic.items()), key=lambda r: (r[1], r[0])
        ),
    }


def expected_visitor_marts(
    dataset: Dataset, days: list[date], views: Counter[tuple[str, str]]
) -> dict[str, Rows]:
    """The search, feedback, AI and audience marts from people's atoms (`days` lie within the
    marts' 30 days); `views`: people's page views per (space, page) over `days`."""
    searches: dict[tuple[str, date, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    ratings: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    answers: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    audience: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for site_id, day, atom in _atoms(dataset, days):
        if atom.visitor_bot is not None:
            continue
        kind, query = atom.event_type, atom.search_query
        if kind in ("search_type_query", "search_open_result") and query is not None:
            row = searches[(site_id, day, query)]
            row[0 if kind == "search_type_query" else 1] += atom.events
            row[2] += atom.events if kind == "search_open_result" and atom.page is None else 0
        if kind.startswith("page_post_feedback") and atom.page and atom.page[0]:
            counts = ratings[(atom.page[1], atom.page[0])]
            if kind == "page_post_feedback":
                counts["ratings"] += atom.events
                counts[atom.feedback_rating or ""] += atom.events
            else:
                counts["comments"] += atom.events
        if kind in ("ask_question", "ask_rate_response") and query is not None:
            answers[(site_id, query)][
                "asked" if kind == "ask_question" else str(atom.ask_rating)
            ] += atom.events
        if kind == "page_view":
            key = (site_id, day, atom.referrer_domain or "", atom.country or "", atom.device)
            for i, n in enumerate((atom.events, atom.sessions, atom.visitors)):
                audience[key][i] += n
    totals: Counter[tuple[str, str]] = Counter()
    opened: Counter[tuple[str, str]] = Counter()
    searched_on: dict[tuple[str, str], set[date]] = defaultdict(set)
    for (site_id, day, query), (typed, results, _) in searches.items():
        totals[(site_id, query)] += typed
        opened[(site_id, query)] += results
        if typed:
            searched_on[(site_id, query)].add(day)
    gaps = [
        (*key, n, len(searched_on[key]), max(searched_on[key]))
        for key, n in totals.items()
        if n > 0 and opened[key] == 0
    ]
    worst_pages = []
    for (space_id, page_id), c in ratings.items():
        rated = c["ratings"]
        if rated:
            score = (c["good"] - c["bad"]) / rated
            row = (space_id, page_id, score, rated, c["bad"], c["ok"], c["good"], c["comments"])
            worst_pages.append((*row, views[(space_id, page_id)]))
    worst_answers = []
    for (site_id, question), c in answers.items():
        up, down = c["1"], c["-1"]
        if up + down:
            score = (up - down) / (up + down)
            worst_answers.append((site_id, question, score, up + down, up, down, c["asked"]))
    return {
        "searches": sorted((*key, *row) for key, row in searches.items()),
        "search_gaps": sorted(gaps, key=lambda r: (-r[2], r[0], r[1])),
        "worst_pages": sorted(worst_pages, key=lambda r: (r[2], -r[3], r[0], r[1])),
        "worst_answers": sorted(worst_answers, key=lambda r: (r[2], -r[5], r[0], r[1])),
        # One query per site-day here: every count exact.
        "audience": sorted((*key, *row, False) for key, row in audience.items()),
    }


def read_marts(query: Callable[[str], Rows]) -> dict[str, Rows]:
    return {name: [tuple(row) for row in query(sql)] for name, sql in MART_QUERIES.items()}


@pytest.fixture
def loaded(demo_loads: DemoLoads) -> DemoLoads:
    """The session's demo loads (conftest): the models tests only read them."""
    return demo_loads


def test_dbt_build_runs_through_dagster_and_every_test_is_a_passing_check(
    loaded: DemoLoads,
) -> None:
    result = loaded.models
    assert result.success
    materialized = {m.asset_key for m in result.get_asset_materialization_events()}
    assert {key.path[-1] for key in materialized} == MODELS
    checks = result.get_asset_check_evaluations()
    declared = {k for k in defs().resolve_asset_graph().asset_check_keys if k.asset_key.path[0]}
    assert {c.asset_check_key for c in checks} == {
        key for key in declared if key.asset_key.path[0] == "analytics"
    }
    assert len(checks) == DBT_TESTS and all(check.passed for check in checks)


def test_marts_match_numbers_computed_from_the_api(loaded: DemoLoads) -> None:
    expected = expected_marts(loaded.dataset, loaded.days, datetime.now(timezone.utc))

    actual = read_marts(loaded.query)

    assert actual == expected
    # The known data exercises every mart: 404s, unread pages, idle seats, traffic.
    assert all(actual[name] for name in expected), actual
    assert sum(row[-1] for row in actual["members_by_role"]) > 0
    assert any(from_search for *_, from_search in actual["broken_urls"])
    # Machines hit missing URLs too; the marts above left them out.
    machines = loaded.query(
        "select count(*) from analytics_staging.stg_gitbook__site_events "
        "where is_broken_url and not is_person"
    )
    assert machines[0][0] > 0


def test_the_report_draws_every_chart_from_the_marts_in_a_real_browser(loaded: DemoLoads) -> None:
    """The demo's report, opened from disk in headless Chromium: each chart drew one bar (or
    point) per row of its mart's query, labelled with the mart's text, and the page asked for
    nothing over the network."""
    (event,) = [
        e for e in loaded.models.get_asset_materialization_events() if e.asset_key == REPORT_KEY
    ]
    metadata = event.materialization.metadata
    path = Path(str(metadata["path"].value))
    assert path == loaded.root / DEFAULT_REPORT_PATH
    assert metadata["report"].value == path.as_uri() and metadata["empty_charts"].value == []
    expected = {chart.id: loaded.query(chart.sql) for chart in CHARTS}
    assert all(expected.values())

    drawn, requests, scripts = draw(path)

    for chart in CHARTS:
        rows = expected[chart.id]
        marks, labels, values = drawn[chart.id]
        # Every point, and every bar but a zero's, has a size on the page.
        drawable = [row for row in rows if chart.kind == "line" or row[-1] != 0]
        assert marks == len(drawable), chart.id
        if chart.kind == "bar":
            assert labels[: len(rows)] == [shown(label(row[:-1])) for row in reversed(rows)]
            assert values == [f"{float(row[-1]):,.{chart.decimals}f}" for row in reversed(rows)]
    assert {url.split(":", 1)[0] for url in requests} == {"file"}
    assert scripts == 0  # pygal's tooltip scripts are removed: the page runs nothing


def shown(text: str, limit: int = 60) -> str:
    """A label as pygal draws it: cut to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def draw(path: Path) -> tuple[dict[str, tuple[int, list[str], list[str]]], list[str], int]:
    """Per chart section: its drawn marks (bars or points with a non-empty box), its axis
    labels and printed values; every URL the page requested; and its scripts."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        message = "headless Chromium is not installed: apt-get install chromium (.ci/run does)"
        if os.environ.get(REQUIRE_CHROMIUM_ENV):
            pytest.fail(message)
        pytest.skip(message)
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.goto(path.as_uri())
            drawn = page.evaluate(DRAWN_JS)
            scripts = page.evaluate("() => document.scripts.length")
        finally:
            browser.close()
    charts = {k: (v["marks"], v["labels"], v["values"]) for k, v in drawn.items()}
    return charts, requests, scripts


# Set by `.ci/run`: a machine without Chromium then fails instead of skipping.
REQUIRE_CHROMIUM_ENV = "ANALYTICS_TESTS_REQUIRE_CHROMIUM"
# Chromium on a machine with no network: no background connections, no sandbox as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DRAWN_JS = """
() => Object.fromEntries([...document.querySelectorAll("section")].map(section => {
  const sized = el => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  const marks = [...section.querySelectorAll("svg .bar rect, svg circle.dot")].filter(sized);
  const labels = [...section.querySelectorAll("svg .axis.y .guides text")].map(t => t.textContent);
  const values = [...section.querySelectorAll("svg .text-overlay .value")].map(t => t.textContent);
  return [section.id, {marks: marks.length, labels, values}];
}))
"""


def test_automation_waits_for_site_insights_then_builds_every_model_once(loaded: DemoLoads) -> None:
    """After the full sync only, the models over site_insights_daily wait (it has no partition
    yet; `eager()` would wait for every day since the start date, forever); after days load,
    exactly they are requested; once built, nothing is requested again."""
    requested_after_sync = {
        name for name in MODELS if loaded.after_sync.get_num_requested(model_key(name))
    }
    assert requested_after_sync == MODELS - SITE_INSIGHTS_MODELS
    assert {
        name for name in MODELS if loaded.after_site_insights.get_num_requested(model_key(name))
    } == SITE_INSIGHTS_MODELS
    assert loaded.after_models.total_requested == 0


def test_a_failing_blocking_test_stops_the_models_downstream(
    loaded: DemoLoads, tmp_path: Path
) -> None:
    """A page duplicated in the raw content table fails the staging key test (blocking): dbt
    skips the marts over it, and the run fails."""
    copy = tmp_path / "copy.duckdb"
    shutil.copy(loaded.duckdb_path, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("insert into gitbook.content select * from gitbook.content limit 1")
    warehouse = WarehouseResource(
        destination="duckdb", duckdb_path=str(copy), pipelines_dir=str(tmp_path / "p")
    )

    result = run_models(warehouse, "WARNING")

    assert not result.success
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert [c.asset_check_key.name for c in failed] == [
        "unique_combination_stg_gitbook__pages_space_id__page_id"
    ]
    graph = defs().resolve_asset_graph()
    assert graph.get(failed[0].asset_check_key).blocking
    materialized = {m.asset_key.path[-1] for m in result.get_asset_materialization_events()}
    assert "stg_gitbook__pages" in materialized
    assert not materialized & {"page_views_daily", "top_pages_30d", "unread_pages"}
    # The failed run keeps its dbt folder, whose log the failure names.
    runs = Path(os.environ[TARGET_PATH_ENV]) / RUNS_FOLDER
    (kept,) = runs.glob(f"{result.run_id[:8]}-*")
    assert (kept / "dbt.log").is_file()


def test_models_on_postgres_give_the_same_marts(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: DagsterInstance
) -> None:
    """The same sync and `dbt build` on PostgreSQL, with the profile filled from dlt's
    credentials variable alone (the way a user configures the destination)."""
    monkeypatch.setenv(CREDENTIALS_ENV, postgres_url)
    warehouse = PostgresWarehouse(postgres_url, tmp_path / "pg_pipelines")
    dataset = Dataset.demo(anchor=datetime.now(timezone.utc).date())

    *_, models = sync_and_build(warehouse.resource(), dataset, instance)

    assert models.success
    assert all(check.passed for check in models.get_asset_check_evaluations())
    actual = read_marts(warehouse.query)
    assert actual == expected_marts(dataset, recent_days(), datetime.now(timezone.utc))
