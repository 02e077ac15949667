"""The site insights tables end to end: the bundled API (which validates every request body
against GitBook's 0.202.0 schema), Dagster's partitioned materialization, a real DuckDB file."""

import dataclasses
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import (
    AssetsDefinition,
    AssetSelection,
    ExecuteInProcessResult,
    build_schedule_context,
    materialize,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from analytics_assets.definitions import defs
from analytics_assets.defs.checks.quality import VISITOR_TEXT
from analytics_assets.defs.checks.tables import build_site_insights_checks
from analytics_assets.defs.sync.site_insights import (
    build_site_insights_assets,
    site_insights_partitions,
)
from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI, Fault
from analytics_assets.devtools.fake_api.dataset import (
    ASK_QUESTIONS,
    FEEDBACK_COMMENTS,
    SEARCH_QUERIES,
)
from analytics_assets.devtools.fake_api.server import SITE_INSIGHTS_AGGREGATE
from analytics_assets.gitbook.site_insights_groupings import GROUPINGS, SEARCHES
from analytics_assets.gitbook.site_insights_source import replaced_scope
from analytics_assets.settings import (
    SCHEDULE_TIMEZONE_ENV,
    SITE_INSIGHTS_START_ENV,
    OperationsConfig,
)
from analytics_assets_tests.harness import (
    TEST_TOKEN,
    Runner,
    expected_rows,
    failure_message,
    loaded_rows,
)

REPO = Path(__file__).resolve().parents[1]
DAY = date(2024, 6, 30)
ROWS_SQL = (
    "select site_id, event_type, page_space_id, page_id, url_path, page_not_found_type, "
    "visitor_bot, display_context, events_count, sessions_count, visitors_count "
    "from gitbook.site_insights_daily where day = ?"
)


def site_insights(start: date = date(2024, 1, 1)) -> AssetsDefinition:
    return build_site_insights_assets(site_insights_partitions(start))


def load(
    runner: Runner,
    first: date,
    last: date | None = None,
    *,
    with_checks: bool = False,
    raise_on_error: bool = True,
) -> ExecuteInProcessResult:
    """Materialize one day, or the days first..last in one run (how a backfill runs them)."""
    assets: list[Any] = [site_insights()]
    if with_checks:
        assets.append(build_site_insights_checks(OperationsConfig()))
    if last is None:
        return materialize(
            assets,
            partition_key=first.isoformat(),
            instance=runner.instance,
            resources=runner.resources(),
            raise_on_error=raise_on_error,
        )
    tags = {
        ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
    }
    return materialize(
        assets,
        tags=tags,
        instance=runner.instance,
        resources=runner.resources(),
        raise_on_error=raise_on_error,
    )


def loaded_day(runner: Runner, day: date) -> dict[tuple, tuple]:
    """The day's rows keyed like `Dataset.expected_site_insights`, per site."""
    return {tuple(row[:8]): tuple(row[8:]) for row in runner.warehouse.query(ROWS_SQL, [day])}


def expected_day(dataset: Dataset, day: date) -> dict[tuple, tuple]:
    return {
        (site["id"], *key): counts
        for site in dataset.sites
        for key, counts in dataset.expected_site_insights(site["id"], day).items()
    }


def snapshot(runner: Runner) -> list[tuple]:
    """Every row without dlt's bookkeeping columns, sorted."""
    rows = runner.warehouse.query(
        "select * exclude (_dlt_load_id, _dlt_id) from gitbook.site_insights_daily"
    )
    return sorted(rows, key=repr)


def aggregate_bodies(api: FakeGitBookAPI) -> list[dict[str, Any]]:
    return [r.body for r in api.requests_to(SITE_INSIGHTS_AGGREGATE)]


def pages_query(body: Any) -> bool:
    """Whether a body is site_insights_daily's query (only it groups by display context)."""
    return {"column": "displayContext"} in body["groupBy"]


def test_a_partition_loads_exactly_its_day(runner: Runner, dataset: Dataset) -> None:
    result = load(runner, DAY)

    assert result.success
    assert loaded_day(runner, DAY) == expected_day(dataset, DAY)
    assert runner.warehouse.query("select distinct day from gitbook.site_insights_daily") == [
        (DAY,)
    ]
    # 404s (page views and opened search results) keep their URL, with no page; events in a
    # space on no page are not 404s.
    broken = runner.warehouse.query(
        "select count(*) from gitbook.site_insights_daily where is_not_found "
        "and page_id is null and page_space_id is null and url_path is not null "
        "and event_type = 'page_view'"
    )[0][0]
    assert broken >= len(dataset.published_site_ids())
    assert runner.warehouse.query(
        "select count(*) from gitbook.site_insights_daily where is_not_found "
        "and (page_space_id is not null "
        "or event_type not in ('page_view', 'search_open_result'))"
    ) == [(0,)]
    # One query per table, site and day; each asked for exactly the partition's UTC day, and
    # GitBook's schema accepted it.
    served = runner.api.requests_to(SITE_INSIGHTS_AGGREGATE)
    assert len(served) == len(GROUPINGS) * len(dataset.published_site_ids())
    assert all(r.status == 200 for r in served)
    assert {json.dumps(b["range"], sort_keys=True) for b in aggregate_bodies(runner.api)} == {
        json.dumps({"from": "2024-06-30T00:00:00.000Z", "to": "2024-06-30T23:59:59.999Z"})
    }
    events = result.asset_materializations_for_node("gitbook_site_insights")
    assert {e.asset_key.path[-1]: e.partition for e in events} == {
        grouping.name: DAY.isoformat() for grouping in GROUPINGS
    }
    counts = {e.asset_key.path[-1]: e.metadata["dagster/row_count"].value for e in events}
    assert counts == {g.name: len(expected_rows(dataset, g, [DAY])) for g in GROUPINGS}


def test_a_backfill_range_is_one_run_with_exact_rows(runner: Runner, dataset: Dataset) -> None:
    days = [DAY - timedelta(days=offset) for offset in (2, 1, 0)]

    result = load(runner, days[0], days[-1])

    assert result.success
    total = runner.warehouse.count("site_insights_daily")
    assert total == dataset.expected_site_insight_rows(days)
    for day in days:
        assert loaded_day(runner, day) == expected_day(dataset, day)
    # Every table holds exactly what the raw events say, over the whole range.
    for grouping in GROUPINGS:
        loaded = loaded_rows(runner.warehouse.query, grouping)
        assert loaded == expected_rows(dataset, grouping, days), grouping.name
        assert loaded, f"{grouping.name} has rows in the demo data"
    sites, tables = len(dataset.published_site_ids()), len(GROUPINGS)
    assert len(aggregate_bodies(runner.api)) == len(days) * sites * tables
    assert len(runner.instance.get_runs()) == 1


def test_rerunning_a_partition_replaces_its_day(runner: Runner, dataset: Dataset) -> None:
    other = DAY - timedelta(days=1)
    assert load(runner, other).success
    assert load(runner, DAY).success
    before = snapshot(runner)

    assert load(runner, DAY).success

    after = snapshot(runner)
    assert after == before
    assert loaded_day(runner, other) == expected_day(dataset, other)
    assert runner.warehouse.count("site_insights_daily") == dataset.expected_site_insight_rows(
        [other, DAY]
    )


def test_changed_numbers_replace_the_old_ones(runner: Runner, dataset: Dataset) -> None:
    """A day re-fetched after GitBook counted more events holds only the new numbers."""
    assert load(runner, DAY).success
    site = dataset.sites[0]["id"]
    path = SITE_INSIGHTS_AGGREGATE.replace("{organizationId}", dataset.site_org(site)).replace(
        "{siteId}", site
    )
    runner.api.add_fault(
        Fault(
            route=SITE_INSIGHTS_AGGREGATE,
            match_path=path,
            match_body=pages_query,
            status=200,
            body={
                "columns": [
                    {"column": "datetime", "values": ["2024-06-30T00:00:00.000Z"]},
                    {"column": "eventType", "values": ["page_view"]},
                    {"column": "page", "values": [None]},
                    {"column": "urlPath", "values": ["/only-this"]},
                    {"column": "eventsCount", "values": [7]},
                    {"column": "sessionsCount", "values": [5]},
                    {"column": "visitorsCount", "values": [4]},
                ]
            },
        )
    )

    assert load(runner, DAY).success

    rows = runner.warehouse.query(
        "select url_path, events_count from gitbook.site_insights_daily where site_id = ?",
        [site],
    )
    assert rows == [("/only-this", 7)]
    others = {k: v for k, v in expected_day(dataset, DAY).items() if k[0] != site}
    assert {k: v for k, v in loaded_day(runner, DAY).items() if k[0] != site} == others


@pytest.fixture
def big_day_dataset() -> Dataset:
    """One day with 1,500 groups per site (fewer than 1,000 per event type) and one with 3,000
    (one event type alone over 1,000)."""
    return Dataset.generate(
        orgs=1, spaces_per_org=2, members_per_org=3, pages_per_space=40,
        traffic_points_per_space=2, sites_per_org=1,
        big_days={DAY - timedelta(days=1): 1500, DAY: 3000},
    )  # fmt: skip


@pytest.fixture
def big_runner(big_day_dataset: Dataset, runner: Runner) -> Iterator[Runner]:
    with FakeGitBookAPI(dataset=big_day_dataset, token=TEST_TOKEN) as api:
        yield Runner(api, runner.warehouse, runner.instance)


@pytest.mark.parametrize(
    ("offset", "split"), [(1, "event_type"), (0, "event_type_and_time")], ids=["1500", "3000"]
)
def test_a_day_over_the_query_limit_loads_completely(
    big_runner: Runner, big_day_dataset: Dataset, offset: int, split: str
) -> None:
    day = DAY - timedelta(days=offset)
    expected = expected_day(big_day_dataset, day)
    assert len(expected) > 1000

    assert load(big_runner, day).success

    assert loaded_day(big_runner, day) == expected
    splits = big_runner.warehouse.query(
        "select distinct query_split from gitbook.site_insights_daily"
    )
    assert split in {s for (s,) in splits}
    bodies = aggregate_bodies(big_runner.api)
    assert all(b.get("limit") == 1000 for b in bodies)
    assert all(r.status == 200 for r in big_runner.api.requests_to(SITE_INSIGHTS_AGGREGATE))


def test_checks_pass_on_a_clean_load_and_catch_bad_rows(runner: Runner) -> None:
    assert runner.materialize(["organizations", "sites"]).success  # the site_id check's parent
    result = load(runner, DAY, with_checks=True)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {
        "key_is_unique",
        "declared_columns_have_declared_types",
        "was_loaded_within_freshness_window",
        "site_id_exists_in_sites",
        "counts_are_non_negative_integers",
        "coverage_is_complete",
        "schema_unchanged_since_previous_load",
    }
    assert [name for name, e in evaluations.items() if not e.passed] == []

    with duckdb.connect(str(runner.warehouse.duckdb_path)) as con:
        con.execute("update gitbook.site_insights_daily set events_count = -1 where rowid < 2")
        con.execute("update gitbook.site_insights_daily set site_id = 'ghost' where rowid = 5")
        # A search typed twice: its key repeats, and the query is text a visitor wrote.
        con.execute(
            "insert into gitbook.site_searches_daily select * from gitbook.site_searches_daily "
            "where search_query is not null limit 1"
        )
        (query,) = con.execute(
            "select search_query from gitbook.site_searches_daily "
            "group by all having count(*) > 1 limit 1"
        ).fetchone()
    checks_only = materialize(
        [site_insights(), build_site_insights_checks(OperationsConfig())],
        selection=AssetSelection.all_asset_checks(),
        instance=runner.instance,
        resources=runner.resources(),
        raise_on_error=False,
    )

    failed = {
        (e.asset_key.path[-1], e.check_name): e
        for e in checks_only.get_asset_check_evaluations()
        if not e.passed
    }
    assert set(failed) == {
        ("site_insights_daily", "counts_are_non_negative_integers"),
        ("site_insights_daily", "site_id_exists_in_sites"),
        ("site_searches_daily", "key_is_unique"),
    }
    counts = failed[("site_insights_daily", "counts_are_non_negative_integers")]
    assert counts.metadata["failing_rows"].value == 2
    orphan = failed[("site_insights_daily", "site_id_exists_in_sites")]
    assert orphan.metadata["examples"].value == ["ghost"]
    # The duplicate is named by its key, with the visitor's query masked.
    duplicate = failed[("site_searches_daily", "key_is_unique")].metadata["examples"].value
    assert duplicate[0][3] == VISITOR_TEXT and query not in repr(duplicate)


def test_the_schedules_target_today_and_yesterday_in_utc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SCHEDULE_TIMEZONE_ENV, "America/Los_Angeles")
    monkeypatch.setenv(SITE_INSIGHTS_START_ENV, "2024-01-01")
    repository = defs().get_repository_def()
    # 17:25 in Los Angeles on 29 June is 00:25 UTC on 30 June.
    tick = datetime(2024, 6, 29, 17, 25, tzinfo=timezone(timedelta(hours=-7)))

    for name, expected in (
        ("gitbook_hourly_site_insights_today", "2024-06-30"),
        ("gitbook_daily_site_insights_close_day", "2024-06-29"),
    ):
        with build_schedule_context(
            scheduled_execution_time=tick, repository_def=repository
        ) as context:
            data = repository.get_schedule_def(name).evaluate_tick(context)
        assert [r.partition_key for r in data.run_requests or []] == [expected]


def test_a_malformed_answer_fails_naming_site_day_and_path(
    runner: Runner, dataset: Dataset
) -> None:
    runner.api.add_fault(
        Fault(
            route=SITE_INSIGHTS_AGGREGATE,
            status=200,
            match_body=pages_query,
            body={
                "columns": [
                    {"column": "eventType", "values": ["page_view", "search_open"]},
                    {"column": "eventsCount", "values": [1]},
                ]
            },
        )
    )

    result = load(runner, DAY, raise_on_error=False)

    assert not result.success
    message = failure_message(result)
    assert "resource 'site_insights_daily' at POST /v1/orgs/" in message
    assert "/insights/events/aggregate" in message
    assert "2024-06-30" in message and "columns have different lengths" in message
    assert "--select gitbook/site_insights_daily --partition-range" in message
    # That table lost its only day; the other tables loaded it, and only they are materialized.
    assert "site_insights_daily" not in runner.warehouse.tables() or (
        runner.warehouse.count("site_insights_daily") == 0
    )
    materialized = result.asset_materializations_for_node("gitbook_site_insights")
    others = [grouping for grouping in GROUPINGS if grouping.name != "site_insights_daily"]
    assert {e.asset_key.path[-1] for e in materialized} == {g.name for g in others}
    for grouping in others:
        assert loaded_rows(runner.warehouse.query, grouping) == expected_rows(
            dataset, grouping, [DAY]
        )


def test_a_table_that_fails_a_day_keeps_its_rows_while_the_others_replace_that_day(
    runner: Runner, dataset: Dataset
) -> None:
    """GitBook's numbers for a day change, and its searches query keeps failing: the searches
    keep the day as it was, every other table holds the new numbers, and only they are marked
    materialized; the run fails naming the table, the day and the command."""
    assert load(runner, DAY).success
    kept = loaded_rows(runner.warehouse.query, SEARCHES)
    assert kept
    runner.api.dataset = dataset.without(site_days=[("site_docs", DAY)])
    runner.api.add_fault(
        Fault(
            route=SITE_INSIGHTS_AGGREGATE,
            status=500,
            times=None,
            match_body=lambda body: body["groupBy"] == SEARCHES.group_by(),
        )
    )

    result = load(runner, DAY, raise_on_error=False)

    assert not result.success
    message = failure_message(result)
    assert f"site_searches_daily {DAY}: GitBook answered HTTP 500" in message
    assert f"--select gitbook/site_searches_daily --partition-range {DAY}...{DAY}" in message
    assert loaded_rows(runner.warehouse.query, SEARCHES) == kept
    others = [grouping for grouping in GROUPINGS if grouping is not SEARCHES]
    for grouping in others:
        expected = expected_rows(runner.api.dataset, grouping, [DAY])
        assert loaded_rows(runner.warehouse.query, grouping) == expected, grouping.name
        assert not any(key[0] == "site_docs" for key in expected)
    materialized = result.asset_materializations_for_node("gitbook_site_insights")
    assert {e.asset_key.path[-1] for e in materialized} == {g.name for g in others}


@pytest.mark.parametrize("fail", [False, True], ids=["success", "failure"])
def test_the_token_stays_out_of_logs_events_errors_and_dlt_files(
    runner: Runner,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    fail: bool,
) -> None:
    """The site insights source posts with its own REST client: the same guarantees as the
    main sync (test_security.py), with every logger at DEBUG."""
    from analytics_assets_tests.test_security import event_log_text, files_text

    caplog.set_level("DEBUG")
    if fail:
        runner.api.add_fault(Fault(route=SITE_INSIGHTS_AGGREGATE, status=500, times=100))

    result = load(runner, DAY, raise_on_error=False)

    assert result.success is not fail
    posts = runner.api.requests_to(SITE_INSIGHTS_AGGREGATE)
    assert posts and all(r.had_valid_token for r in posts)
    out, err = capfd.readouterr()
    haystacks = {
        "stdout": out,
        "stderr": err,
        "python logging": caplog.text,
        "dagster event log": event_log_text(runner.instance, result.run_id),
        "dlt files": files_text(runner.warehouse.pipelines_dir) + files_text(tmp_path),
    }
    if fail:
        haystacks["exception"] = failure_message(result)
        assert "HTTP 500" in haystacks["exception"]
    assert [where for where, text in haystacks.items() if TEST_TOKEN in text] == []
    assert "127.0.0.1" in caplog.text, "request-level (urllib3) logging was captured"
    # Nor is any text a visitor wrote (it is data: the dlt files hold the rows themselves).
    visitors = [*SEARCH_QUERIES, *ASK_QUESTIONS, *FEEDBACK_COMMENTS]
    if not fail:
        assert runner.warehouse.count("site_searches_daily") > 0
    logged = {where: text for where, text in haystacks.items() if where != "dlt files"}
    assert [(w, v) for w, text in logged.items() for v in visitors if v in text] == []


def posted_sites(runner: Runner) -> set[str]:
    return {
        r.path.split("/sites/", 1)[1].rsplit("/insights/", 1)[0]
        for r in runner.api.requests_to(SITE_INSIGHTS_AGGREGATE)
    }


def with_published(dataset: Dataset, site_id: str, published: bool) -> Dataset:
    """The same account with one site unpublished (or published again)."""
    sites = {
        org: [{**site, "published": published} if site["id"] == site_id else site for site in rows]
        for org, rows in dataset.sites_by_org.items()
    }
    return dataclasses.replace(dataset, sites_by_org=sites)


def test_unpublished_sites_cost_no_request_and_keep_their_rows(
    runner: Runner, dataset: Dataset
) -> None:
    unpublished = dataset.unpublished_site_id
    assert unpublished is not None and unpublished not in dataset.published_site_ids()
    site = "site_changelog"
    other = DAY - timedelta(days=1)
    assert load(runner, other, DAY).success
    assert posted_sites(runner) == set(dataset.published_site_ids())
    before = runner.warehouse.query(
        "select * exclude (_dlt_load_id, _dlt_id) from gitbook.site_insights_daily "
        "where site_id = ? order by all",
        [site],
    )
    assert before

    # Unpublished: not asked, and its rows stay; the other sites' days are still replaced.
    runner.api.dataset = with_published(dataset, site, False).without(
        site_days=[("site_docs", DAY)]
    )
    runner.api.clear_requests()
    assert load(runner, DAY).success
    assert posted_sites(runner) == set(dataset.published_site_ids()) - {site}
    assert (
        runner.warehouse.query(
            "select * exclude (_dlt_load_id, _dlt_id) from gitbook.site_insights_daily "
            "where site_id = ? order by all",
            [site],
        )
        == before
    )
    assert not runner.warehouse.query(
        "select 1 from gitbook.site_insights_daily where site_id = 'site_docs' and day = ?", [DAY]
    )

    # Published again: asked again, and the day is replaced with what GitBook says now.
    runner.api.dataset = with_published(runner.api.dataset, site, True)
    assert load(runner, DAY).success
    assert site in posted_sites(runner)
    assert loaded_day(runner, DAY) == expected_day(runner.api.dataset, DAY)


def test_the_replaced_scope_survives_dlts_format_for_any_site_id() -> None:
    odd = "site{0}'s"  # dlt str.formats the scope: braces and quotes must both be escaped
    scope = replaced_scope([DAY], [odd, "plain"], unpublished=[odd])

    expanded = scope.format(table="t", staging_table="s")

    assert expanded == (
        "(day IN ('2024-06-30') AND site_id NOT IN ('site{0}''s')) "
        "OR site_id NOT IN ('plain', 'site{0}''s')"
    )
    with duckdb.connect() as con:  # and it is valid SQL that selects what it says
        con.execute("create table t (day date, site_id text)")
        con.execute(
            "insert into t values ('2024-06-30', 'plain'), ('2024-06-30', ?), ('2024-06-29', ?),"
            " ('2024-06-29', 'gone')",
            [odd, odd],
        )
        selected = con.execute(f"select day, site_id from t where {expanded} order by all")
        assert [(str(d), s) for d, s in selected.fetchall()] == [
            ("2024-06-29", "gone"),
            ("2024-06-30", "plain"),
        ]
