"""GitBook's rate limiter: the sync paces itself from `X-RateLimit-*`, waits out a 429 for its
window instead of burning retries, caps its total wait, and says so in the run log.

The limiter here is the bundled API's, enforced as GitBook documents it: 429 with the three
headers and no `Retry-After`, and a window longer than the design document's whole 2 + 4 + 8 s
backoff, so a sync that merely retried would fail.
"""

import time
from datetime import date, datetime, timezone

import pytest
from dagster import DagsterInstance

from analytics_assets.devtools.bundled import run_full_sync
from analytics_assets.devtools.fake_api import (
    LEGACY_TRAFFIC_API,
    Dataset,
    FakeGitBookAPI,
    Fault,
    RateLimit,
)
from analytics_assets.gitbook.rate_limit import RateLimitPacer
from analytics_assets.gitbook.settings import MAX_CONCURRENCY, RESOURCES
from analytics_assets_tests.harness import TEST_TOKEN, Runner, Warehouse, failure_message

ORGS = "/v1/orgs"
# Longer than the spec's whole backoff (2 + 4 + 8 s): retries alone cannot outlast it.
WINDOW_SECONDS = 15.0
TABLES = [spec.name for spec in RESOURCES]


def run_log(instance: DagsterInstance, run_id: str) -> list[str]:
    return [record.user_message for record in instance.all_logs(run_id)]


def counts(warehouse: Warehouse) -> dict[str, int]:
    return {table: warehouse.count(table) for table in TABLES}


def test_a_full_sync_under_a_tight_limiter_completes_exactly_with_few_429s(
    warehouse: Warehouse, instance: DagsterInstance
) -> None:
    """The spec's own backoff (factor 2), so only pacing can get the sync through."""
    dataset = Dataset.demo(anchor=date.today())  # fresh traffic, so every check can pass
    limit = RateLimit(requests=25, window_seconds=WINDOW_SECONDS)
    with FakeGitBookAPI(
        dataset=dataset, token=TEST_TOKEN, rate_limit=limit, api_version=LEGACY_TRAFFIC_API
    ) as api:
        gitbook = Runner(api, warehouse, instance).gitbook(backoff_factor=2.0)
        started = time.monotonic()
        result = run_full_sync(gitbook, warehouse.resource(), instance=instance)
        elapsed = time.monotonic() - started
        requests = api.requests
        expected = api.expected_row_counts()

    assert result.success, failure_message(result)
    assert counts(warehouse) == expected
    rejected = [r for r in requests if r.status == 429]
    windows = 1 + int(elapsed // WINDOW_SECONDS)
    served = [r for r in requests if r.status != 429]
    # More requests than one window allows, so the sync had to wait for at least one reset.
    assert len(served) > limit.requests and elapsed >= WINDOW_SECONDS * 0.8
    assert len(rejected) <= MAX_CONCURRENCY * windows
    log = run_log(instance, result.run_id)
    waits = [line for line in log if line.startswith("rate limited by GitBook: waiting")]
    assert waits and "window resets at" in waits[0]
    assert all(e.passed for e in result.get_asset_check_evaluations())
    print(f"rate limit: {len(requests)} requests, {len(rejected)} answered 429, {elapsed:.1f} s")


def test_a_429_with_reset_is_waited_out_without_spending_a_retry(
    runner: Runner, fake_api: FakeGitBookAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__GITBOOK__MAX_RETRIES", "0")  # one attempt, no retries at all
    reset = int(time.time()) + 2
    headers = {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(reset),
    }
    fake_api.add_fault(Fault(route=ORGS, status=429, headers=headers, times=1))

    result = runner.materialize(["organizations"])

    assert result.success
    statuses = [(r.status, r.time) for r in fake_api.requests_to(ORGS)]
    assert [status for status, _ in statuses] == [429, 200]
    # The re-send waited for the announced reset (epoch seconds), not a backoff step.
    assert time.time() >= reset
    assert runner.warehouse.count("organizations") == len(fake_api.dataset.organizations)


def test_retry_after_is_honoured_for_a_429_without_rate_headers(
    runner: Runner, fake_api: FakeGitBookAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__GITBOOK__MAX_RETRIES", "0")
    fake_api.add_fault(Fault(route=ORGS, status=429, retry_after=1, times=1))

    result = runner.materialize(["organizations"])

    assert result.success
    first, second = fake_api.requests_to(ORGS)[:2]
    assert (first.status, second.status) == (429, 200)
    assert second.time - first.time >= 1.0


def test_a_wait_past_the_cap_fails_naming_resource_path_and_setting(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    headers = {
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(time.time()) + 30),
    }
    fake_api.add_fault(Fault(route=ORGS, status=429, headers=headers, times=None))

    started = time.monotonic()
    result = runner.materialize(["organizations"], raise_on_error=False, max_rate_limit_wait=1.0)

    assert not result.success
    assert time.monotonic() - started < 20  # failed at once, did not sit out the window
    message = failure_message(result)
    assert "resource 'organizations' at GET /v1/orgs" in message
    assert "HTTP 429" in message and "GITBOOK_MAX_RATE_LIMIT_WAIT_SECONDS" in message
    assert len(fake_api.requests_to(ORGS)) == 1
    assert runner.warehouse.tables() == set()  # nothing was loaded


class _Response:
    """The slice of `requests.Response` the pacer reads."""

    def __init__(self, status: int, remaining: int, reset: float) -> None:
        self.status_code = status
        self.headers = {
            "X-RateLimit-Limit": "3",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
        }


class _Request:
    method = "GET"
    url = "https://api.gitbook.com/v1/orgs"


def test_the_pacer_spends_the_window_then_waits_for_its_reset() -> None:
    now = [1_000.0]
    lines: list[str] = []
    pacer = RateLimitPacer(max_wait=100, log=lines.append, clock=lambda: now[0])
    pacer.before_send(_Request())  # type: ignore[arg-type]
    pacer.observe(_Response(200, remaining=0, reset=1_010))  # type: ignore[arg-type]

    # The window is spent: the next send waits until the reset; the fake clock jumps there.
    pacer._cond.wait = lambda timeout=None: now.__setitem__(0, now[0] + (timeout or 0))  # type: ignore[method-assign]
    pacer.before_send(_Request())  # type: ignore[arg-type]

    assert now[0] >= 1_010
    assert pacer.waits == 1 and 9.9 < pacer.waited_seconds < 11
    assert lines[0].startswith("rate limited by GitBook: waiting 10 s, window resets at")
    expected_clock = datetime.fromtimestamp(1_010, timezone.utc).strftime("%H:%M:%S UTC")
    assert expected_clock in lines[0]


def test_the_pacer_leaves_a_429_without_timing_to_the_retry_policy() -> None:
    pacer = RateLimitPacer(max_wait=100, log=lambda line: None)

    bare = _Response(429, remaining=0, reset=0)
    bare.headers = {}

    assert pacer.observe(bare) is None  # type: ignore[arg-type]


def test_a_429_with_retry_after_waits_for_it_not_for_the_window() -> None:
    """`Retry-After` (1 s) can be sooner than the window's reset (60 s away, budget left)."""
    now = [1_000.0]
    pacer = RateLimitPacer(max_wait=100, log=lambda line: None, clock=lambda: now[0])
    pacer.observe(_Response(200, remaining=50, reset=1_060))  # type: ignore[arg-type]
    throttled = _Response(429, remaining=50, reset=1_060)
    throttled.headers["Retry-After"] = "1"

    resume = pacer.observe(throttled)  # type: ignore[arg-type]
    pacer._cond.wait = lambda timeout=None: now.__setitem__(0, now[0] + (timeout or 0))  # type: ignore[method-assign]
    pacer.before_send(_Request())  # type: ignore[arg-type]

    assert resume == 1_001.0
    assert 1_001.0 <= now[0] < 1_002.0  # resumed after Retry-After, long before the reset
