"""Smoke test of the code location as a user meets it: `dagster dev` on workspace.yaml, asked
only through the webserver's GraphQL, with the code location pointed at the bundled API.

One server for the module: it costs ~10 s to start on a small machine. Its teardown asserts
that the whole process group (webserver, daemon, code servers, run workers) stopped on SIGINT.
"""

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from analytics_assets.definitions import defs
from analytics_assets.defs.jobs.jobs import FULL_SYNC_JOB_NAME
from analytics_assets.defs.models.automation import MODELS_SENSOR_NAME
from analytics_assets.defs.models.project import TARGET_PATH_ENV
from analytics_assets.defs.recovery.sensor import RECOVERY_SENSOR
from analytics_assets.defs.resources import (
    BASE_URL_ENV,
    DUCKDB_PATH_ENV,
    PIPELINES_DIR_ENV,
    TOKEN_ENV,
)
from analytics_assets.devtools.fake_api import TODAY_API, Dataset, FakeGitBookAPI
from analytics_assets.devtools.webserver import (
    DagsterDev,
    command_lines,
    dagster_dev,
    group_members,
)
from analytics_assets.gitbook.settings import SITE_INSIGHTS_TABLES
from analytics_assets.settings import MODELS_AUTOMATION_SECONDS_ENV
from analytics_assets_tests.harness import (
    ALL_CHECKS,
    EXPECTED_PARENTS,
    SHARED_DBT_TARGET,
    TEST_TOKEN,
)

# The graph as a user should see it; update these together when an asset, check or schedule is
# added (the row counts follow Dataset.expected_row_counts()).
EXPECTED_CHECK_COUNT = ALL_CHECKS
MODELS_LABEL = "eager, once every dependency has data"
EXPECTED_SCHEDULES = {
    "gitbook_daily_full_sync": ("0 3 * * *", "gitbook_full_sync"),
    "gitbook_hourly_traffic_sync": ("15 * * * *", "gitbook_traffic_sync"),
    "gitbook_hourly_site_insights_today": ("25 * * * *", "gitbook_site_insights_sync"),
    "gitbook_daily_site_insights_close_day": ("30 1 * * *", "gitbook_site_insights_sync"),
}
HOUR = 3600
EXPECTED_FAIL_WINDOWS = {name: 26 * HOUR for name in EXPECTED_PARENTS} | {
    "insights_traffic": 2 * HOUR,
    **{spec.name: 2 * HOUR for spec in SITE_INSIGHTS_TABLES},
}
RUN_TIMEOUT = 180.0
# The automation sensor's runs of the models, after the sync and after the backfill.
MODELS_TIMEOUT = 240.0
FRESHNESS_TIMEOUT = 60.0

ASSET_NODES_QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    dependencyKeys { path }
    internalFreshnessPolicy {
      __typename
      ... on TimeWindowFreshnessPolicy { failWindowSeconds warnWindowSeconds }
    }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name executionForLatestMaterialization { status } } }
    }
    freshnessStatusInfo { freshnessStatus }
    automationCondition { label }
    assetMaterializations(limit: 1) { runId }
  }
}
"""
SENSORS_QUERY = """
query Sensors($repository: RepositorySelector!) {
  sensorsOrError(repositorySelector: $repository) {
    __typename
    ... on Sensors { results { name sensorType sensorState { status } } }
  }
}
"""
SCHEDULES_QUERY = """
query Schedules($repository: RepositorySelector!) {
  schedulesOrError(repositorySelector: $repository) {
    __typename
    ... on Schedules {
      results { name cronSchedule executionTimezone pipelineName scheduleState { status } }
    }
  }
}
"""


@dataclass(frozen=True)
class Served:
    """The running server and what it was pointed at."""

    dev: DagsterDev
    dataset: Dataset
    duckdb_path: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("webserver")
    dataset = Dataset.demo(anchor=datetime.now(timezone.utc).date())
    duckdb_path = tmp / "warehouse.duckdb"
    # Today's GitBook (no space traffic endpoint): the UI must show every check green on it.
    with FakeGitBookAPI(dataset=dataset, token=TEST_TOKEN, api_version=TODAY_API) as api:
        env = {
            BASE_URL_ENV: api.base_url,
            TOKEN_ENV: TEST_TOKEN,
            DUCKDB_PATH_ENV: str(duckdb_path),
            PIPELINES_DIR_ENV: str(tmp / "dlt_pipelines"),
            TARGET_PATH_ENV: str(SHARED_DBT_TARGET),  # dbt's manifest, parsed once per session
            "DLT_DATA_DIR": str(tmp / "dlt_data"),  # not the developer's ~/.dlt
            # Evaluate freshness every few seconds instead of every 30.
            "FRESHNESS_DAEMON_INTERVAL_SECONDS": "3",
            # Look for models to build every few seconds instead of every 30.
            MODELS_AUTOMATION_SECONDS_ENV: "5",
        }
        with dagster_dev(env) as dev:
            yield Served(dev, dataset, duckdb_path)
    assert dev.shutdown is not None
    assert dev.shutdown.clean, dev.shutdown


def asset_nodes(dev: DagsterDev, prefix: str = "gitbook") -> dict[str, dict[str, Any]]:
    """The webserver's asset nodes under `prefix` (gitbook: the tables, analytics: the dbt
    models) by name; every key must be gitbook/<table> or analytics/<model>."""
    nodes = dev.graphql(ASSET_NODES_QUERY)["assetNodes"]
    assert all(node["assetKey"]["path"][0] in ("gitbook", "analytics") for node in nodes), nodes
    assert all(len(node["assetKey"]["path"]) == 2 for node in nodes), nodes
    return {
        node["assetKey"]["path"][-1]: node
        for node in nodes
        if node["assetKey"]["path"][0] == prefix
    }


def checks_of(node: dict[str, Any]) -> dict[str, str | None]:
    """Check name -> status of its evaluation for the latest materialization (None if none)."""
    checks = node["assetChecksOrError"]
    assert checks["__typename"] == "AssetChecks", checks
    return {
        check["name"]: (check["executionForLatestMaterialization"] or {}).get("status")
        for check in checks["checks"]
    }


def test_the_process_group_holds_every_dagster_dev_service(served: Served) -> None:
    """The teardown's "no process left" is only meaningful if the group contains them all."""
    lines = command_lines(group_members(served.dev.process.pid))
    for service in ("dagster_webserver", "dagster._daemon", "dagster code-server"):
        assert any(service in line for line in lines), (service, lines)


def test_the_asset_graph_is_the_six_tables_and_their_edges(served: Served) -> None:
    nodes = asset_nodes(served.dev)

    graph = {
        name: {dependency["path"][-1] for dependency in node["dependencyKeys"]}
        for name, node in nodes.items()
    }
    assert graph == EXPECTED_PARENTS
    assert {node["groupName"] for node in nodes.values()} == {"gitbook"}


def test_the_dbt_models_continue_the_lineage_with_their_automation(served: Served) -> None:
    """One graph: each staging model hangs off a gitbook/ table, each mart off the models; every
    model carries the automation condition, and its sensor is served, running."""
    models = asset_nodes(served.dev, "analytics")
    declared = defs().resolve_asset_graph()

    lineage = {
        name: {"/".join(d["path"]) for d in node["dependencyKeys"]} for name, node in models.items()
    }
    assert lineage == {
        key.path[-1]: {parent.to_user_string() for parent in declared.get(key).parent_keys}
        for key in declared.get_all_asset_keys()
        if key.path[0] == "analytics"
    }
    assert lineage["stg_gitbook__site_events"] == {"gitbook/site_insights_daily"}
    assert lineage["top_pages_30d"] == {"analytics/page_views_daily"}
    assert {node["groupName"] for node in models.values()} == {"analytics"}
    assert {node["automationCondition"]["label"] for node in models.values()} == {MODELS_LABEL}

    repository = served.dev.repository().as_dict()
    answer = served.dev.graphql(SENSORS_QUERY, {"repository": repository})["sensorsOrError"]
    assert answer["__typename"] == "Sensors", answer
    assert {
        (sensor["name"], sensor["sensorType"], sensor["sensorState"]["status"])
        for sensor in answer["results"]
    } == {
        (MODELS_SENSOR_NAME, "AUTO_MATERIALIZE", "RUNNING"),
        (RECOVERY_SENSOR, "STANDARD", "RUNNING"),
    }


def test_every_asset_has_the_checks_the_definitions_declare(served: Served) -> None:
    served_checks = {
        f"{prefix}/{name}": set(checks_of(node))
        for prefix in ("gitbook", "analytics")
        for name, node in asset_nodes(served.dev, prefix).items()
    }

    graph = defs().resolve_asset_graph()
    expected: dict[str, set[str]] = {f"gitbook/{name}": set() for name in EXPECTED_PARENTS}
    expected.update({k.to_user_string(): set() for k in graph.get_all_asset_keys()})
    for check_key in graph.asset_check_keys:
        expected.setdefault(check_key.asset_key.to_user_string(), set()).add(check_key.name)

    assert served_checks == expected
    assert sum(len(names) for names in served_checks.values()) == EXPECTED_CHECK_COUNT


def test_both_schedules_are_served_with_their_crons_and_start_stopped(served: Served) -> None:
    repository = served.dev.repository().as_dict()
    answer = served.dev.graphql(SCHEDULES_QUERY, {"repository": repository})["schedulesOrError"]
    assert answer["__typename"] == "Schedules", answer

    schedules = {schedule["name"]: schedule for schedule in answer["results"]}
    assert set(schedules) == set(EXPECTED_SCHEDULES)
    for name, (cron, job) in EXPECTED_SCHEDULES.items():
        schedule = schedules[name]
        assert schedule["cronSchedule"] == cron, name
        assert schedule["pipelineName"] == job, name
        assert schedule["executionTimezone"] == "UTC", name
        assert schedule["scheduleState"]["status"] == "STOPPED", name


def test_every_asset_has_its_time_window_freshness_policy(served: Served) -> None:
    policies = {
        name: node["internalFreshnessPolicy"] for name, node in asset_nodes(served.dev).items()
    }

    assert policies == {
        name: {
            "__typename": "TimeWindowFreshnessPolicy",
            "failWindowSeconds": seconds,
            "warnWindowSeconds": None,
        }
        for name, seconds in EXPECTED_FAIL_WINDOWS.items()
    }


def row_counts(duckdb_path: Path, tables: Iterable[str]) -> dict[str, int]:
    """Rows per table, read the way a user would: a read-only DuckDB connection."""
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return {
            table: con.execute(f"select count(*) from gitbook.{table}").fetchall()[0][0]
            for table in tables
        }


def wait_until_fresh(dev: DagsterDev, timeout: float) -> dict[str, str]:
    """Each asset's freshness status, once the freshness daemon has judged all of them."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = {
            name: (node["freshnessStatusInfo"] or {}).get("freshnessStatus")
            for name, node in asset_nodes(dev).items()
        }
        if "UNKNOWN" not in statuses.values() or time.monotonic() > deadline:
            return statuses
        time.sleep(1.0)


def all_check_statuses(dev: DagsterDev) -> dict[tuple[str, str], str | None]:
    return {
        (f"{prefix}/{name}", check): outcome
        for prefix in ("gitbook", "analytics")
        for name, node in asset_nodes(dev, prefix).items()
        for check, outcome in checks_of(node).items()
    }


def wait_for_models(dev: DagsterDev, timeout: float) -> dict[tuple[str, str], str | None]:
    """Every check's status, once every model is materialized and every check has run."""
    deadline = time.monotonic() + timeout
    while True:
        models = asset_nodes(dev, "analytics")
        statuses = all_check_statuses(dev)
        built = all(node["assetMaterializations"] for node in models.values())
        if (built and None not in statuses.values()) or time.monotonic() > deadline:
            return statuses
        time.sleep(2.0)


def sync_and_backfill(served: Served) -> None:
    """A full sync, then three days of site insights as one backfill, both exact."""
    dev = served.dev
    run_id = dev.launch_job(FULL_SYNC_JOB_NAME)
    status = dev.wait_for_run(run_id, timeout=RUN_TIMEOUT)

    assert status == "SUCCESS", "\n".join(dev.run_errors(run_id))
    expected_rows = served.dataset.expected_row_counts(traffic=False)  # today's API
    assert row_counts(served.duckdb_path, expected_rows) == expected_rows

    # The partitioned site insights, backfilled over three days as from the UI's dialog: the
    # daemon turns it into one run (single-run backfill policy) that loads every day exactly.
    today = datetime.now(timezone.utc).date()
    days = [today - timedelta(days=offset) for offset in (2, 1, 0)]
    backfill_id = dev.launch_backfill(
        [["gitbook", spec.name] for spec in SITE_INSIGHTS_TABLES], [day.isoformat() for day in days]
    )
    backfill_status, runs = dev.wait_for_backfill(backfill_id, timeout=RUN_TIMEOUT)
    assert backfill_status == "COMPLETED_SUCCESS", runs
    assert [run["status"] for run in runs] == ["SUCCESS"]
    assert row_counts(served.duckdb_path, ["site_insights_daily"]) == {
        "site_insights_daily": served.dataset.expected_site_insight_rows(days)
    }


SENSOR_STATE_QUERY = """
query Sensor($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { id selectorId status } }
  }
}
"""
STOP_SENSOR_MUTATION = """
mutation Stop($origin: String, $selector: String) {
  stopSensor(jobOriginId: $origin, jobSelectorId: $selector) {
    __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message }
  }
}
"""
START_SENSOR_MUTATION = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""


@contextmanager
def models_sensor_paused(dev: DagsterDev) -> Iterator[None]:
    """The models' sensor stopped, then started again as a person does in the UI.

    With it running, a tick that lands after a sync's materializations but before all of its
    checks have passed builds the models in two runs, one of which plans a dbt test that dbt
    cannot run yet (it ends SKIPPED): the outcome would depend on timing. Started once the
    inputs are loaded, it builds every model in one run, as on a real deployment's first day.
    """
    selector = {**dev.repository().as_dict(), "sensorName": MODELS_SENSOR_NAME}
    state = dev.graphql(SENSOR_STATE_QUERY, {"selector": selector})["sensorOrError"]
    ids = {"origin": state["sensorState"]["id"], "selector": state["sensorState"]["selectorId"]}
    stopped = dev.graphql(STOP_SENSOR_MUTATION, ids)["stopSensor"]
    assert stopped["instigationState"]["status"] == "STOPPED", stopped
    try:
        yield
    finally:
        started = dev.graphql(START_SENSOR_MUTATION, {"selector": selector})["startSensor"]
        assert started["sensorState"]["status"] == "RUNNING", started


def test_a_full_sync_launched_through_graphql_loads_every_table(served: Served) -> None:
    dev = served.dev
    with models_sensor_paused(dev):
        sync_and_backfill(served)

    # The automation sensor builds the models, without anyone launching them.
    check_statuses = wait_for_models(dev, MODELS_TIMEOUT)
    assert len(check_statuses) == EXPECTED_CHECK_COUNT
    assert set(check_statuses.values()) == {"SUCCEEDED"}, check_statuses
    with duckdb.connect(str(served.duckdb_path), read_only=True) as con:
        assert con.execute("select count(*) from analytics.broken_urls").fetchall()[0][0] > 0
    # The daemon started by `dagster dev` evaluates the policies (dagster.yaml: freshness).
    assert wait_until_fresh(dev, FRESHNESS_TIMEOUT) == dict.fromkeys(EXPECTED_PARENTS, "HEALTHY")
