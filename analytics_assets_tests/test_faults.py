"""The fault matrix: each misbehaviour of the API or the process, and what the sync does."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analytics_assets.devtools.fake_api import TODAY_API, Dataset, FakeGitBookAPI, Fault
from analytics_assets.devtools.webserver import free_port
from analytics_assets.gitbook.settings import RESOURCES
from analytics_assets_tests.harness import TEST_TOKEN, Runner, failure_message

ORGS = "/v1/orgs"
USER = "/v1/user"
CONTENT = "/v1/spaces/{spaceId}/content"
TRAFFIC = "/v1/spaces/{spaceId}/insights/traffic"
SPACE = "/v1/spaces/{spaceId}"
TABLES = tuple(spec.name for spec in RESOURCES)  # the unpartitioned tables of the main sync


def counts(runner: Runner) -> dict[str, int]:
    return {t: runner.warehouse.count(t) for t in TABLES}


# -- transport -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["reset", "truncate"])
def test_a_dropped_connection_is_retried_within_the_budget(
    runner: Runner, fake_api: FakeGitBookAPI, transport: str
) -> None:
    fake_api.add_fault(Fault(route=ORGS, status=None, transport=transport, times=3))

    assert runner.materialize(["organizations"]).success
    assert len(fake_api.requests_to(ORGS)) == 4


@pytest.mark.parametrize("transport", ["reset", "truncate"])
def test_a_connection_that_keeps_dropping_fails_clearly_after_four_attempts(
    runner: Runner, fake_api: FakeGitBookAPI, transport: str
) -> None:
    fake_api.add_fault(Fault(route=ORGS, status=None, transport=transport, times=None))

    result = runner.materialize(["organizations"], raise_on_error=False)

    assert len(fake_api.requests_to(ORGS)) == 4
    message = failure_message(result)
    assert "connection dropped" in message and "on all 4 attempts" in message
    assert "'organizations'" in message and "GET /v1/orgs" in message


def test_a_refused_connection_fails_clearly(runner: Runner) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"

    result = runner.materialize(["users"], raise_on_error=False, base_url=base_url)

    message = failure_message(result)
    assert "could not connect" in message and "'users'" in message
    assert "GET /v1/user" in message and "GITBOOK_BASE_URL" in message


def test_a_slow_server_times_out_is_retried_then_fails_and_the_timeout_is_configurable(
    runner: Runner, fake_api: FakeGitBookAPI
) -> None:
    fake_api.add_fault(Fault(route=USER, status=None, delay=0.6, times=None))

    result = runner.materialize(["users"], raise_on_error=False, request_timeout=0.2)

    # The server records a request when it answers, after its delay: wait for the stragglers.
    deadline = time.monotonic() + 10
    while len(fake_api.requests_to(USER)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(fake_api.requests_to(USER)) == 4
    message = failure_message(result)
    assert "timed out" in message and "'users'" in message and "request_timeout" in message
    assert runner.materialize(["users"], request_timeout=5).success


# -- bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        ("<html><body>Sign in</body></html>", "text/html", "is not valid JSON"),
        ('{"items": [{"id": "o', "application/json", "is not valid JSON"),
        ({"data": []}, None, "has no 'items' key"),
    ],
    ids=["html", "truncated-json", "missing-selector"],
)
def test_a_bad_200_body_fails_once_naming_resource_path_and_excerpt(
    runner: Runner, fake_api: FakeGitBookAPI, body: object, content_type: str, problem: str
) -> None:
    fake_api.add_fault(
        Fault(route=ORGS, status=200, body=body, content_type=content_type, times=None)
    )

    result = runner.materialize(["organizations"], raise_on_error=False)

    assert len(fake_api.requests_to(ORGS)) == 1  # no retry storm
    message = failure_message(result)
    assert problem in message
    assert "'organizations'" in message and "GET /v1/orgs" in message
    excerpt = body if isinstance(body, str) else '{"data":[]}'
    assert excerpt[:20] in message


def test_pagination_past_the_page_cap_fails_naming_resource_and_path(runner: Runner) -> None:
    # Pages of 5 members, so that one organization's members need more than one page.
    result = runner.materialize(["org_members"], raise_on_error=False, max_pages=1, page_size=5)

    message = failure_message(result)
    assert "'org_members'" in message and "/members" in message and "cap is 1" in message


# -- partial data ----------------------------------------------------------------------------


def test_a_space_deleted_after_listing_is_skipped_with_a_warning(
    runner: Runner, fake_api: FakeGitBookAPI, dataset: Dataset
) -> None:
    gone = dataset.awkward_space_id
    for route in (CONTENT, TRAFFIC):
        fake_api.add_fault(
            Fault(route=route, match_path=route.replace("{spaceId}", gone), status=404, times=None)
        )

    result = runner.materialize()

    assert result.success
    assert runner.warehouse.query(
        "select count(*) from gitbook.content where space_id = ?", [gone]
    ) == [(0,)]
    expected = dataset.expected_row_counts()
    assert runner.warehouse.count("insights_traffic") == expected["insights_traffic"] - len(
        dataset.traffic_of(gone)
    )
    warnings = [
        record.user_message
        for record in runner.instance.all_logs(result.run_id)
        if record.level == 30 and "HTTP 404" in record.user_message
    ]
    assert len(warnings) == 2
    content_warning, traffic_warning = sorted(warnings, key=lambda w: "insights_traffic" in w)
    assert "'content'" in content_warning and "Skipping it; the sync goes on" in content_warning
    assert "use site_insights_daily" in traffic_warning


@pytest.mark.parametrize("status", [404, 410])
def test_the_removed_traffic_endpoint_is_one_warning_not_a_failure(
    runner: Runner, fake_api: FakeGitBookAPI, dataset: Dataset, status: int
) -> None:
    """GitBook's current API no longer serves /insights/traffic: every space answers 404 (or
    410). The run succeeds, loads everything else, and says once what to use instead."""
    fake_api.add_fault(Fault(route=TRAFFIC, status=status, times=None))

    result = runner.materialize()

    assert result.success
    expected = dataset.expected_row_counts()
    for table in ("organizations", "spaces", "content", "org_members"):
        assert runner.warehouse.count(table) == expected[table]
    assert "insights_traffic" not in runner.warehouse.tables() or (
        runner.warehouse.count("insights_traffic") == 0
    )
    warnings = [
        record.user_message
        for record in runner.instance.all_logs(result.run_id)
        if record.level == 30 and "insights_traffic" in record.user_message
    ]
    assert len(warnings) == 1
    assert f"HTTP {status}" in warnings[0]
    assert "no longer serves space traffic" in warnings[0]
    assert "use site_insights_daily" in warnings[0]
    # Asked once, confirmed once (the space exists), then not asked again.
    assert "It is not asked again in this run" in warnings[0]
    assert [r.status for r in fake_api.requests_to(TRAFFIC)] == [status]
    assert len(fake_api.requests_to(SPACE)) == 1


def test_the_removed_traffic_endpoint_costs_two_requests_not_one_per_space(
    runner: Runner, tmp_path: Path
) -> None:
    dataset = Dataset.generate(orgs=2, spaces_per_org=20, members_per_org=2)
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, api_version=TODAY_API) as api:
        result = Runner(api, runner.warehouse, runner.instance).materialize()

        assert result.success
        assert runner.warehouse.count("content") == dataset.expected_row_counts()["content"]
        traffic, probes = api.requests_to(TRAFFIC), api.requests_to(SPACE)
    assert len(dataset.spaces) == 40
    assert [r.status for r in traffic] == [404] and [r.status for r in probes] == [200]


def test_a_space_deleted_mid_run_does_not_stop_the_others_traffic(
    runner: Runner, fake_api: FakeGitBookAPI, dataset: Dataset
) -> None:
    """On the 0.91 API a traffic 404 can mean the space was deleted after it was listed: the
    space itself answers 404 too, so every other space's traffic is still fetched."""
    gone = dataset.awkward_space_id
    for route in (TRAFFIC, SPACE):
        fake_api.add_fault(
            Fault(route=route, match_path=route.replace("{spaceId}", gone), status=404, times=None)
        )

    assert runner.materialize(["organizations", "spaces", "insights_traffic"]).success

    served = {r.path for r in fake_api.requests_to(TRAFFIC)}
    assert len(served) == len(dataset.spaces)
    loaded = runner.warehouse.query("select distinct space_id from gitbook.insights_traffic")
    expected = {s for s, series in dataset.traffic_by_space.items() if series.views and s != gone}
    assert {row[0] for row in loaded} == expected


# -- schema contract -------------------------------------------------------------------------


def serve_first_count_as(api: FakeGitBookAPI, dataset: Dataset, count: object) -> str:
    """Make one space's first traffic point carry `count`; return that space's id."""
    space = dataset.awkward_space_id
    views = [dict(point) for point in dataset.traffic_of(space)]
    views[0]["count"] = count
    api.add_fault(
        Fault(
            route=TRAFFIC,
            match_path=TRAFFIC.replace("{spaceId}", space),
            status=200,
            body={"count": 0, "views": views},
            times=None,
        )
    )
    return space


def test_a_fractional_count_does_not_fail_the_sync(
    runner: Runner, fake_api: FakeGitBookAPI, dataset: Dataset
) -> None:
    serve_first_count_as(fake_api, dataset, 2.5)

    assert runner.materialize(["organizations", "spaces", "insights_traffic"]).success
    assert runner.warehouse.query(
        "select count__v_double from gitbook.insights_traffic where count__v_double is not null"
    ) == [(2.5,)]


def test_a_numeric_string_count_is_coerced(
    runner: Runner, fake_api: FakeGitBookAPI, dataset: Dataset
) -> None:
    space = serve_first_count_as(fake_api, dataset, "42")

    assert runner.materialize(["organizations", "spaces", "insights_traffic"]).success
    types = runner.warehouse.query(
        "select data_type from information_schema.columns "
        "where table_schema = 'gitbook' and table_name = 'insights_traffic' "
        "and column_name = 'count'"
    )
    assert types == [("BIGINT",)]
    assert (42,) in runner.warehouse.query(
        "select count from gitbook.insights_traffic where space_id = ?", [space]
    )


def test_a_count_that_cannot_be_a_number_lands_in_a_variant_column_and_fails_a_check(
    runner: Runner, fake_api: FakeGitBookAPI, dataset: Dataset
) -> None:
    space = serve_first_count_as(fake_api, dataset, "many")

    result = runner.materialize(
        ["organizations", "spaces", "insights_traffic"], with_checks=True, raise_on_error=False
    )

    # The load keeps every row: the odd value is kept aside, the typed column left null ...
    assert runner.warehouse.query(
        "select count, count__v_text from gitbook.insights_traffic where count__v_text is not null"
    ) == [(None, "many")]
    assert (
        runner.warehouse.count("insights_traffic")
        == dataset.expected_row_counts()["insights_traffic"]
    )
    # ... and the values check says so, naming the row.
    [check] = [
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "counts_are_non_negative_integers_and_timestamps_not_in_future"
    ]
    assert not check.passed
    assert check.metadata["examples"].value[0][0] == space


def test_an_unknown_field_becomes_a_new_column(
    runner: Runner, fake_api: FakeGitBookAPI, dataset: Dataset
) -> None:
    items = [{**org, "brandNewField": "hello"} for org in dataset.organizations]
    fake_api.add_fault(Fault(route=ORGS, status=200, body={"items": items}, times=None))

    assert runner.materialize(["organizations"]).success
    assert runner.warehouse.query("select distinct brand_new_field from gitbook.organizations") == [
        ("hello",)
    ]


# -- failures and recovery -------------------------------------------------------------------


def test_a_run_that_fails_halfway_keeps_earlier_tables_and_a_rerun_loads_exactly_once(
    runner: Runner, fake_api: FakeGitBookAPI, dataset: Dataset
) -> None:
    expected = dataset.expected_row_counts()
    # The very first sync fails in content, after organizations and spaces were fetched.
    fake_api.add_fault(Fault(route=CONTENT, status=500, times=None))
    assert not runner.materialize(raise_on_error=False).success
    fake_api.clear_faults()
    assert runner.materialize().success
    assert counts(runner) == expected

    fake_api.add_fault(Fault(route=CONTENT, status=500, times=None))
    # Content is fetched by revision: only a full re-fetch asks for it (and fails) again.
    assert not runner.materialize(raise_on_error=False, full_refetch=True).success
    assert counts(runner) == expected  # the earlier load is intact

    fake_api.clear_faults()
    assert runner.materialize().success
    assert counts(runner) == expected


@pytest.mark.parametrize("kill_point", ["after_normalize", "before_commit"])
def test_a_sync_killed_mid_load_is_completed_by_the_next_run_without_duplicates(
    runner: Runner, fake_api: FakeGitBookAPI, dataset: Dataset, kill_point: str
) -> None:
    env = {
        **os.environ,
        "GITBOOK_ACCESS_TOKEN": TEST_TOKEN,
        "GITBOOK_BASE_URL": fake_api.base_url,
        "ANALYTICS_DUCKDB_PATH": str(runner.warehouse.duckdb_path),
        "ANALYTICS_DLT_PIPELINES_DIR": str(runner.warehouse.pipelines_dir),
    }
    killed = subprocess.run(
        [sys.executable, "-m", "analytics_assets_tests.killed_sync", kill_point],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    pending = runner.warehouse.pipelines_dir / "gitbook" / "load" / "normalized"
    assert any(pending.iterdir()), "the killed run left a load package behind"

    assert runner.materialize(with_checks=True).success
    assert counts(runner) == dataset.expected_row_counts()
    assert not any(pending.iterdir())
