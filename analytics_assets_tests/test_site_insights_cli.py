"""`site_insights_daily` at any volume, through the CLI a user runs for a range of days:
`dagster asset materialize --partition-range`, against the bundled API in today's profile,
into a real DuckDB file and a real Dagster instance (`DAGSTER_HOME`)."""

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from analytics_assets.defs.sync.site_insights import site_insights_partitions
from analytics_assets.devtools.fake_api import TODAY_API, Dataset, FakeGitBookAPI, Fault
from analytics_assets.devtools.fake_api.server import SITE_INSIGHTS_AGGREGATE
from analytics_assets_tests.harness import TEST_TOKEN

REPO = Path(__file__).resolve().parents[1]
KEY = AssetKey(["gitbook", "site_insights_daily"])
DAY = date(2024, 6, 30)
BURST_SITE = "site_docs"
START = date(2024, 6, 1)


@dataclass
class Cli:
    """One user's setup: environment, DuckDB file and Dagster home, reused across commands."""

    api: FakeGitBookAPI
    home: Path
    duckdb_path: Path
    env: dict[str, str]

    def materialize(self, first: date, last: date) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(Path(sys.executable).parent / "dagster"),
                "asset",
                "materialize",
                "-m",
                "analytics_assets.definitions",
                "--select",
                KEY.to_user_string(),
                "--partition-range",
                f"{first}...{last}",
            ],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def rows_of(self, day: date) -> list[tuple[Any, ...]]:
        return sorted(
            self.query(
                "select * exclude (_dlt_load_id, _dlt_id) from gitbook.site_insights_daily "
                "where day = ?",
                [day],
            ),
            key=repr,
        )

    def posts(self) -> int:
        return len(self.api.requests_to(SITE_INSIGHTS_AGGREGATE))


def make_cli(api: FakeGitBookAPI, tmp_path: Path) -> Cli:
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {
        **os.environ,
        "GITBOOK_BASE_URL": api.base_url,
        "GITBOOK_ACCESS_TOKEN": TEST_TOKEN,
        "ANALYTICS_DUCKDB_PATH": str(tmp_path / "cli.duckdb"),
        "ANALYTICS_DLT_PIPELINES_DIR": str(tmp_path / "pipelines"),
        "ANALYTICS_SITE_INSIGHTS_START_DATE": START.isoformat(),
        "DAGSTER_HOME": str(home),
        # dlt's configuration of the source: keep the retries of a failing day short.
        "SOURCES__GITBOOK__BACKOFF_FACTOR": "0.05",
    }
    return Cli(api, home, tmp_path / "cli.duckdb", env)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    dataset = Dataset.demo().with_bot_burst(BURST_SITE, DAY)
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, api_version=TODAY_API) as api:
        yield make_cli(api, tmp_path)


def output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def test_cli_backfills_a_partition_range(
    fake_api: FakeGitBookAPI, dataset: Dataset, tmp_path: Path
) -> None:
    cli = make_cli(fake_api, tmp_path)
    days = [DAY - timedelta(days=2), DAY - timedelta(days=1), DAY]

    done = cli.materialize(days[0], days[-1])

    assert done.returncode == 0, output(done)[-3000:]
    count = cli.query("select count(*) from gitbook.site_insights_daily")
    assert count == [(dataset.expected_site_insight_rows(days),)]
    assert cli.posts() == len(days) * len(dataset.published_site_ids())


def test_a_bot_burst_day_loads_exactly(cli: Cli) -> None:
    dataset = cli.api.dataset
    expected_groups = {
        (site, *key): counts
        for site in dataset.published_site_ids()
        for key, counts in dataset.expected_site_insights(site, DAY).items()
    }
    burst = Counter(k[1] for k in expected_groups if k[0] == BURST_SITE)
    assert burst["page_view"] > 1000, "the burst alone must overflow one query"

    done = cli.materialize(DAY, DAY)

    assert done.returncode == 0, output(done)[-3000:]
    # Events per (site, day, event type) equal the bundled API's raw events.
    loaded = cli.query(
        "select site_id, event_type, sum(events_count) from gitbook.site_insights_daily "
        "where day = ? group by all",
        [DAY],
    )
    expected = {
        (site, event_type): events
        for site in dataset.published_site_ids()
        for event_type, events in dataset.expected_events_by_type(site, DAY).items()
    }
    assert {(site, event_type): events for site, event_type, events in loaded} == expected
    # And every group is there once, with exact events.
    groups = cli.query(
        "select site_id, event_type, page_space_id, page_id, url_path, page_not_found_type, "
        "visitor_bot, display_context, events_count from gitbook.site_insights_daily "
        "where day = ?",
        [DAY],
    )
    assert len(groups) == len(expected_groups)
    assert {tuple(row[:8]): row[8] for row in groups} == {
        key: counts[0] for key, counts in expected_groups.items()
    }
    # Split rows are marked; only the busy site needed splitting.
    splits = dict(
        cli.query(
            "select site_id, string_agg(distinct query_split, ',') "
            "from gitbook.site_insights_daily group by site_id"
        )
    )
    assert splits.pop(BURST_SITE) != "none" and set(splits.values()) == {"none"}
    # A few POSTs more than a quiet day, not a failed run.
    assert cli.posts() < len(dataset.published_site_ids()) + 40


def test_the_broken_urls_are_only_real_404s(cli: Cli) -> None:
    dataset = cli.api.dataset
    days = [DAY - timedelta(days=1), DAY]  # one even day (conditional 404s), one odd day
    done = cli.materialize(days[0], days[-1])
    assert done.returncode == 0, output(done)[-3000:]

    broken = cli.query(
        "select site_id, url_path, sum(events_count) from gitbook.site_insights_daily "
        "where is_not_found and page_not_found_type is null and visitor_bot is null group by all"
    )

    expected = dataset.expected_broken_url_events(dataset.published_site_ids(), days)
    assert {(site, path): views for site, path, views in broken} == expected
    # The cases it leaves out are in the data: 404s adaptive content explains, machines' 404s,
    # events in a space on no page and pages missing through MCP (which are not 404s at all);
    # and it counts 404s reached from a search result.
    conditional, machines, spaceless, mcp, from_search = cli.query(
        "select count(*) filter (where is_not_found and page_not_found_type = 'conditional'), "
        "count(*) filter (where is_not_found and visitor_bot is not null), "
        "count(*) filter (where page_id is null and page_space_id is not null and not "
        "is_not_found), count(*) filter (where page_space_id is null and display_context = "
        "'mcp' and not is_not_found), count(*) filter (where is_not_found and visitor_bot is "
        "null and event_type = 'search_open_result') from gitbook.site_insights_daily"
    )[0]
    assert conditional > 0 and machines > 0 and spaceless > 0 and mcp > 0 and from_search > 0


def test_a_failing_day_does_not_sink_the_range(cli: Cli) -> None:
    first, bad, last = DAY - timedelta(days=2), DAY - timedelta(days=1), DAY
    assert cli.materialize(bad, bad).returncode == 0
    kept = cli.rows_of(bad)
    # GitBook's numbers change for every day; `bad` then keeps failing.
    cli.api.dataset = cli.api.dataset.without(
        site_days=[(site, day) for site in ("site_docs",) for day in (first, bad, last)]
    )
    cli.api.add_fault(
        Fault(
            route=SITE_INSIGHTS_AGGREGATE,
            status=500,
            times=None,
            match_body=lambda body: body["range"]["from"].startswith(bad.isoformat()),
        )
    )

    done = cli.materialize(first, last)

    assert done.returncode != 0
    message = output(done)
    assert f"site_insights_daily {bad}: GitBook answered HTTP 500 for resource" in message
    assert f"--partition-range {bad}...{bad}" in message
    assert "Every other day of the run's 3 loaded and is materialized" in message
    # The other days hold GitBook's new numbers; the failed day kept what it had.
    assert cli.rows_of(bad) == kept
    dataset = cli.api.dataset
    for day in (first, last):
        expected = sum(
            len(dataset.expected_site_insights(site, day)) for site in dataset.published_site_ids()
        )
        assert len(cli.rows_of(day)) == expected
        assert not cli.query(
            "select 1 from gitbook.site_insights_daily where day = ? and site_id = 'site_docs'",
            [day],
        )
    # Dagster agrees: the failed run materialized the two good days, and the bad one failed.
    instance = DagsterInstance.from_config(str(cli.home))
    failed_run = instance.get_runs(limit=1)[0]
    assert materialized_in(instance, failed_run.run_id) == {first.isoformat(), last.isoformat()}
    assert status(instance)["failed"] == {bad.isoformat()}

    # The command the message names re-runs just that day once GitBook recovers.
    cli.api.clear_faults()
    posts = cli.posts()
    assert cli.materialize(bad, bad).returncode == 0
    assert cli.posts() - posts == len(dataset.published_site_ids())
    assert not cli.query(
        "select 1 from gitbook.site_insights_daily where day = ? and site_id = 'site_docs'", [bad]
    )
    assert status(DagsterInstance.from_config(str(cli.home)))["failed"] == set()


def materialized_in(instance: DagsterInstance, run_id: str) -> set[str]:
    records = instance.fetch_materializations(KEY, limit=1000).records
    return {str(r.partition_key) for r in records if r.run_id == run_id}


def status(instance: DagsterInstance) -> dict[str, set[str]]:
    """The asset's partition status as the UI shows it."""
    partitions = site_insights_partitions(START)
    value = get_and_update_asset_status_cache_value(instance, KEY, partitions)
    assert value is not None
    return {
        "materialized": set(
            value.deserialize_materialized_partition_subsets(partitions).get_partition_keys()
        ),
        "failed": set(value.deserialize_failed_partition_subsets(partitions).get_partition_keys()),
    }
