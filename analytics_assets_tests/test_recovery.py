"""A run killed with SIGKILL never stops later runs: the headless path (cron, CI).

Each test kills a real `dagster` CLI run on a real instance made from the repository's
`dagster.yaml` (pool limit 1), checks that the dead run really holds the pool, then starts the
next run exactly as cron would: it must free the slot by itself, say so in one WARNING naming
the dead run, end green, and leave exact tables.
"""

from datetime import date
from pathlib import Path

import pytest
from dagster import DagsterRun, DagsterRunStatus

from analytics_assets.defs.alerts.webhook import ALERT_WEBHOOK_ENV
from analytics_assets.defs.jobs.jobs import FULL_SYNC_JOB_NAME, MODELS_JOB_NAME
from analytics_assets.defs.recovery.stale_claims import holders
from analytics_assets.defs.recovery.worker import WORKER_TAG, Worker
from analytics_assets.defs.resources import GitBookResource, WarehouseResource
from analytics_assets.devtools.bundled import run_full_sync, run_site_insights
from analytics_assets.devtools.fake_api import TODAY_API, Dataset, FakeGitBookAPI
from analytics_assets.devtools.fake_api.server import SITE_INSIGHTS_AGGREGATE
from analytics_assets.settings import SITE_INSIGHTS_START_ENV
from analytics_assets_tests.harness import TEST_TOKEN
from analytics_assets_tests.headless import DEFINITIONS, POOL, Headless, headless
from analytics_assets_tests.webhook_receiver import webhook_receiver

KILLED = -9
DAY = date(2024, 6, 29)  # within the demo data set's events


@pytest.fixture
def api() -> FakeGitBookAPI:
    # Today's GitBook; a little latency so that a kill from outside lands mid-extraction.
    with FakeGitBookAPI(
        dataset=Dataset.demo(), token=TEST_TOKEN, api_version=TODAY_API, latency=0.05
    ) as api:
        yield api


def assert_recovers_from(cli: Headless, killed_returncode: int, next_run: list[str]) -> str:
    """The killed run holds the pool; the next run frees it, says so once, and ends green."""
    assert killed_returncode == KILLED
    (dead,) = [run for run in cli.runs() if not run.is_finished]
    assert cli.slots_held() == 1, "the killed run should still hold its pool slot"

    completed = cli.run(*next_run)

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    warnings = [line for line in output.splitlines() if "Freed the pool slots of run" in line]
    assert len(warnings) == 1 and dead.run_id in warnings[0] and "WARNING" in warnings[0]
    assert TEST_TOKEN not in output
    by_id = {run.run_id: run for run in cli.runs()}
    assert by_id[dead.run_id].status.value == "FAILURE"
    assert cli.slots_held() == 0
    with cli.instance() as instance:
        assert holders(instance) == []
    return output


def assert_exact_tables(cli: Headless) -> None:
    expected = cli.api.expected_row_counts()
    assert {table: cli.count(table) for table in expected} == expected
    # Each content page exactly once, whatever the killed run left behind.
    assert cli.query(
        "select count(*) from (select space_id, id from gitbook.content group by 1, 2 "
        "having count(*) > 1)"
    ) == [(0,)]


FULL_SYNC = ["job", "execute", *DEFINITIONS, "-j", FULL_SYNC_JOB_NAME]


def site_insights_day(day: date) -> list[str]:
    select = ["--select", "gitbook/site_insights_daily", "--partition", day.isoformat()]
    return ["asset", "materialize", *DEFINITIONS, *select]


def test_syncs_killed_mid_load_in_a_check_and_after_the_last_request_end_in_a_green_sync(
    api: FakeGitBookAPI, tmp_path: Path
) -> None:
    """Three syncs killed in a row, each at a later point than the previous one could trip
    on: mid-load (the package never committed), in the first check step, then after the last
    request (as dlt starts to normalize). Each next run frees the dead one's slot, gets past
    the point where that one died, and the last run is green with exact tables."""
    cli = headless(api, tmp_path)
    killed = cli.run(*FULL_SYNC, kill_at="load")

    for kill_at in ("check", "normalize"):
        dead = next(run for run in cli.runs() if not run.is_finished)
        assert killed.returncode == KILLED and cli.slots_held() == 1
        killed = cli.run(*FULL_SYNC, kill_at=kill_at)
        output = killed.stdout + killed.stderr
        assert f"Freed the pool slots of run {dead.run_id}" in output

    assert_recovers_from(cli, killed.returncode, FULL_SYNC)
    assert_exact_tables(cli)
    assert [run.status.value for run in cli.runs()] == ["FAILURE"] * 3 + ["SUCCESS"]


def test_a_sync_killed_mid_extraction_is_followed_by_a_green_sync_that_alerts_it(
    api: FakeGitBookAPI, tmp_path: Path
) -> None:
    """Nobody else will tell of a headless run that died: the run that finds it dead does."""
    with webhook_receiver() as receiver:
        cli = headless(api, tmp_path, **{ALERT_WEBHOOK_ENV: receiver.url})

        killed = cli.kill_when(FULL_SYNC, lambda: len(api.requests) >= 6)

        assert 6 <= len(api.requests) < 20, "the kill should land mid-extraction"
        dead = next(run for run in cli.runs() if not run.is_finished)
        assert_recovers_from(cli, killed.returncode, FULL_SYNC)
    assert_exact_tables(cli)
    (text,) = receiver.texts()
    assert dead.run_id in text and "worker process is gone" in text


def test_a_site_insights_day_killed_mid_query_is_followed_by_a_green_day(
    api: FakeGitBookAPI, tmp_path: Path
) -> None:
    cli = headless(api, tmp_path, ANALYTICS_SITE_INSIGHTS_START_DATE="2024-06-01")
    day = site_insights_day(DAY)

    killed = cli.kill_when(day, lambda: len(api.requests_to(SITE_INSIGHTS_AGGREGATE)) >= 1)

    assert_recovers_from(cli, killed.returncode, day)
    loaded = cli.query(
        "select site_id, event_type, sum(events_count) from gitbook.site_insights_daily "
        "where day = ? group by 1, 2",
        [DAY],
    )
    expected = {
        (site_id, event_type): events
        for site_id in api.dataset.published_site_ids()
        for event_type, events in api.dataset.expected_events_by_type(site_id, DAY).items()
    }
    assert {(site, kind): n for site, kind, n in loaded} == expected


def test_a_models_run_killed_during_dbt_build_is_followed_by_a_green_models_run(
    api: FakeGitBookAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt runs as a child of the worker and outlives it for a moment: the next run must not
    write the warehouse while it does, and must not trip on what it left."""
    cli = headless(api, tmp_path)
    # The tables and one day, loaded in process into the same instance and warehouse: the
    # models need what a sync leaves, not how it ran (the CLI's syncs are the tests above).
    monkeypatch.setenv(SITE_INSIGHTS_START_ENV, "2024-06-01")
    gitbook = GitBookResource(access_token=TEST_TOKEN, base_url=api.base_url)
    warehouse = WarehouseResource(
        destination="duckdb",
        duckdb_path=str(cli.duckdb_path),
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    with cli.instance() as instance:
        assert run_full_sync(gitbook, warehouse, "WARNING", instance).success
        assert run_site_insights(gitbook, warehouse, [DAY], "WARNING", instance).success
    models = ["job", "execute", *DEFINITIONS, "-j", MODELS_JOB_NAME]

    killed = cli.run(*models, kill_at="dbt")

    assert_recovers_from(cli, killed.returncode, models)
    marts = {row[0] for row in cli.query(
        "select table_name from information_schema.tables where table_schema = 'analytics'"
    )}  # fmt: skip
    assert {"page_views_daily", "broken_urls", "top_pages_30d"} <= marts


def test_a_holder_nobody_can_judge_stops_the_next_run_at_once_naming_the_command(
    api: FakeGitBookAPI, tmp_path: Path
) -> None:
    """A run on another host holds the slot and no monitoring daemon runs: waiting could be
    forever, so the next run fails at once, naming the holder and the one command that frees
    it; that command then lets the run after it through."""
    cli = headless(api, tmp_path)
    elsewhere = Worker("another-host", "machine", "boot", "pid:[1]", 4242, "1").to_tag()
    with cli.instance() as instance:
        running = DagsterRunStatus.STARTED
        holder = instance.add_run(
            DagsterRun(FULL_SYNC_JOB_NAME, status=running, tags={WORKER_TAG: elsewhere})
        )
        storage = instance.event_log_storage
        assert storage.initialize_concurrency_limit_to_default(POOL)  # dagster.yaml's limit
        claim = storage.claim_concurrency_slot(POOL, holder.run_id, "gitbook")
        assert claim.is_claimed

    stopped = cli.sync()

    output = stopped.stdout + stopped.stderr
    assert stopped.returncode != 0
    assert f"python -m analytics_assets.defs.recovery --free {holder.run_id}" in output
    assert "another-host" in output and len(api.requests) == 0
    freed = cli.run_module("analytics_assets.defs.recovery", "--free", holder.run_id)
    assert freed.returncode == 0 and holder.run_id in freed.stdout
    assert cli.slots_held() == 0
    assert cli.sync().returncode == 0
    assert {run.run_id: run.status for run in cli.runs()}[holder.run_id] == DagsterRunStatus.FAILURE
