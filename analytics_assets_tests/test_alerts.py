"""Failures reach people: `ANALYTICS_ALERT_WEBHOOK_URL` and a local receiver, through the real
`dagster` CLI on a real instance (headless: no daemon, so the runs send their own alerts)."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics_assets.defs.alerts.webhook import ALERT_WEBHOOK_ENV
from analytics_assets.defs.jobs.jobs import FULL_SYNC_JOB_NAME
from analytics_assets.devtools.fake_api import LEGACY_TRAFFIC_API, TODAY_API, FakeGitBookAPI
from analytics_assets.settings import FRESHNESS_HOURS_ENV, TRAFFIC_FRESHNESS_HOURS_ENV
from analytics_assets_tests.harness import TEST_TOKEN
from analytics_assets_tests.headless import DEFINITIONS, headless
from analytics_assets_tests.webhook_receiver import Receiver, webhook_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as receiver:
        yield receiver


def test_a_green_run_sends_nothing_a_failed_run_one_alert_and_a_stale_asset_one_alert(
    receiver: Receiver, tmp_path: Path
) -> None:
    """Freshness windows of one minute (Dagster's smallest): a minute after a full sync, every
    table it loaded is past its window when the next run ends, and is told once."""
    minute = {FRESHNESS_HOURS_ENV: "0.0167", TRAFFIC_FRESHNESS_HOURS_ENV: "0.0167"}
    with FakeGitBookAPI(token=TEST_TOKEN, api_version=TODAY_API) as api:
        cli = headless(
            api,
            tmp_path,
            ANALYTICS_SITE_INSIGHTS_START_DATE="2024-06-01",
            **{ALERT_WEBHOOK_ENV: receiver.url},
            **minute,
        )
        green = cli.sync()
        synced = time.monotonic()
        assert green.returncode == 0, green.stderr[-3000:]
        assert receiver.posts == []

        failed = cli.sync(GITBOOK_ACCESS_TOKEN="gb_api_revoked_0123456789")
        assert failed.returncode != 0
        (text,) = receiver.texts()

        time.sleep(max(0.0, synced + 62 - time.monotonic()))
        day = ["asset", "materialize", *DEFINITIONS, "--select", "gitbook/site_insights_daily"]
        assert cli.run(*day, "--partition", "2024-06-29").returncode == 0
        stale = receiver.texts()[1:]
        assert cli.run(*day, "--partition", "2024-06-30").returncode == 0
        again = receiver.texts()[1 + len(stale) :]

    run_id = cli.runs()[1].run_id
    assert FULL_SYNC_JOB_NAME in text and run_id in text
    # The error's first line: the HTTP status and the resource, and what to do.
    assert "HTTP 401" in text and "for resource '" in text and " at GET /v1/" in text
    assert "gb_api_revoked_0123456789" not in text and TEST_TOKEN not in text
    assert receiver.url not in failed.stdout + failed.stderr
    # Every table the full sync loaded, once each; not the day's table, loaded just now.
    loaded = {*api.expected_row_counts(), "org_members_history", "spaces_history", "sites_history"}
    assert sorted(text.split()[1] for text in stale) == sorted(f"`gitbook/{t}`" for t in loaded)
    assert all("past its freshness window" in text for text in stale)
    assert again == []


def test_a_failed_error_check_sends_one_alert_and_the_run_stays_green(
    receiver: Receiver, tmp_path: Path
) -> None:
    """The 0.91 API serves the demo's traffic, whose newest point is long past: the ERROR check
    `newest_point_is_recent` fails, without blocking anything."""
    with FakeGitBookAPI(token=TEST_TOKEN, api_version=LEGACY_TRAFFIC_API) as api:
        cli = headless(api, tmp_path, **{ALERT_WEBHOOK_ENV: receiver.url})
        completed = cli.sync()

    assert completed.returncode == 0, completed.stderr[-3000:]
    (text,) = receiver.texts()
    assert "`newest_point_is_recent`" in text and "`gitbook/insights_traffic`" in text
    assert "ERROR" in text and cli.runs()[-1].run_id in text
    assert "failing rows: 1" in text


def test_a_webhook_that_fails_is_tried_twice_then_warned_about_and_the_run_goes_on(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.status = 503
    with FakeGitBookAPI(token=TEST_TOKEN, api_version=LEGACY_TRAFFIC_API) as api:
        cli = headless(api, tmp_path, **{ALERT_WEBHOOK_ENV: receiver.url})
        completed = cli.sync()

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert receiver.attempts == 2  # one failed check: the first try and one retry
    warnings = [line for line in output.splitlines() if "Alert not delivered" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0] and "HTTP 503" in warnings[0]
    assert receiver.url not in output
