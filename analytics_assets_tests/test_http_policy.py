"""The design document's retry policy and the errors a person sees, against the live fake API."""

import itertools
from collections import Counter

import pytest

from analytics_assets.devtools.fake_api import FakeGitBookAPI, Fault
from analytics_assets_tests.harness import Runner, failure_message

ORGS = "/v1/orgs"
MEMBERS = "/v1/orgs/{organizationId}/members"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_status_is_retried_three_times_then_fails_naming_status_and_path(
    runner: Runner, fake_api: FakeGitBookAPI, status: int
) -> None:
    fake_api.add_fault(Fault(route=ORGS, status=status, times=100))

    result = runner.materialize(["organizations"], raise_on_error=False)

    assert not result.success
    assert len(fake_api.requests_to(ORGS)) == 4  # 1 attempt + 3 retries
    message = failure_message(result)
    assert f"HTTP {status}" in message
    assert "GET /v1/orgs" in message
    assert "'organizations'" in message
    assert "4 attempts" in message


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_status_recovers_within_the_retry_budget(
    runner: Runner, fake_api: FakeGitBookAPI, status: int
) -> None:
    fake_api.add_fault(Fault(route=ORGS, status=status, times=3))

    result = runner.materialize(["organizations"])

    assert result.success
    assert runner.warehouse.count("organizations") > 0
    statuses = [r.status for r in fake_api.requests_to(ORGS)]
    assert statuses[:4] == [status, status, status, 200]


@pytest.mark.parametrize("status", [400, 404, 409, 501])
def test_other_errors_are_not_retried(
    runner: Runner, fake_api: FakeGitBookAPI, status: int
) -> None:
    fake_api.add_fault(Fault(route=ORGS, status=status, times=100))

    result = runner.materialize(["organizations"], raise_on_error=False)

    assert not result.success
    assert len(fake_api.requests_to(ORGS)) == 1
    message = failure_message(result)
    assert f"HTTP {status}" in message and "GET /v1/orgs" in message
    assert "not retried" in message


@pytest.mark.parametrize("status", [401])
def test_rejected_token_fails_at_once_and_says_how_to_set_it(
    runner: Runner, fake_api: FakeGitBookAPI, status: int
) -> None:
    fake_api.add_fault(Fault(route="/v1/user", status=status, times=100))

    result = runner.materialize(["users"], raise_on_error=False)

    assert len(fake_api.requests_to("/v1/user")) == 1
    message = failure_message(result)
    assert f"rejected the access token (HTTP {status})" in message
    assert "GITBOOK_ACCESS_TOKEN" in message and "GET /v1/user" in message


@pytest.mark.parametrize(("route", "resource", "scope"), [
    ("/v1/user", "users", "user:read"),
    (ORGS, "organizations", "organization:read"),
])  # fmt: skip
def test_a_403_on_the_user_or_the_orgs_fails_clearly_without_blaming_the_token(
    runner: Runner, fake_api: FakeGitBookAPI, route: str, resource: str, scope: str
) -> None:
    fake_api.add_fault(Fault(route=route, status=403, times=100))

    result = runner.materialize(raise_on_error=False)

    assert not result.success
    assert len(fake_api.requests_to(route)) == 1  # not retried
    message = failure_message(result)
    assert f"GitBook refused resource '{resource}' at GET {route} (HTTP 403)" in message
    assert f"the OAuth scope '{scope}'" in message and "nothing useful" in message
    assert "GITBOOK_ACCESS_TOKEN" not in message and "valid token" not in message


def test_a_wrong_token_is_reported_as_rejected(dataset, warehouse, instance) -> None:
    with FakeGitBookAPI(dataset=dataset, token="the-real-token") as api:
        result = Runner(api, warehouse, instance).materialize(
            ["organizations"], raise_on_error=False
        )
        assert len(api.requests_to(ORGS)) == 1

    assert "rejected the access token (HTTP 401)" in failure_message(result)


def test_retry_after_is_honoured(runner: Runner, fake_api: FakeGitBookAPI) -> None:
    fake_api.add_fault(Fault(route=ORGS, status=429, times=1, retry_after=1))

    assert runner.materialize(["organizations"]).success

    first, second = fake_api.requests_to(ORGS)[:2]
    # Backoff alone would wait 0.01 s in tests; Retry-After asks for a whole second.
    assert second.time - first.time >= 0.95


def test_backoff_grows_exponentially_without_retry_after(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    fake_api.add_fault(Fault(route=ORGS, status=503, times=3))

    assert runner.materialize(["organizations"], backoff_factor=0.2).success

    times = [r.time for r in fake_api.requests_to(ORGS)[:4]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # factor * 2^(n-1): 0.2 s, 0.4 s, 0.8 s
    assert gaps[0] >= 0.19 and gaps[1] >= 0.39 and gaps[2] >= 0.79
    assert gaps[0] < gaps[1] < gaps[2]


def test_repeating_cursor_fails_naming_resource_and_path(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    fake_api.repeat_cursor(route=MEMBERS)

    result = runner.materialize(["org_members"], raise_on_error=False)

    assert not result.success
    message = failure_message(result)
    assert "repeated pagination cursor" in message
    assert "'org_members'" in message and "/members" in message
    # Each org's chain stopped as soon as the cursor came back, not after thousands of pages.
    per_org = Counter(r.path for r in fake_api.requests_to(MEMBERS))
    assert per_org and max(per_org.values()) <= 2


def test_a_run_without_a_token_fails_with_a_clear_message(runner: Runner) -> None:
    result = runner.materialize(["users"], raise_on_error=False, access_token=None)

    assert not result.success
    message = failure_message(result)
    assert "No GitBook access token" in message and "GITBOOK_ACCESS_TOKEN" in message
