"""The `dg` CLI on this flat layout: `[tool.dg]` in pyproject.toml points it at
analytics_assets.definitions, and these run the real `dg` from the project's venv against it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from analytics_assets.definitions import defs
from analytics_assets.defs.jobs.jobs import FULL_SYNC_JOB_NAME
from analytics_assets.defs.models.project import TARGET_PATH_ENV
from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI
from analytics_assets.gitbook.settings import RESOURCES
from analytics_assets_tests.harness import SHARED_DBT_TARGET, TEST_TOKEN

REPO_ROOT = Path(__file__).resolve().parents[1]
# The dg of the interpreter running the tests, i.e. of the project's venv, never one on PATH.
DG = Path(sys.executable).parent / "dg"
# Prefixes of every setting the project or dlt reads from the environment.
PROJECT_ENV_PREFIXES = ("GITBOOK_", "ANALYTICS_", "SOURCES__", "DESTINATION__", "DAGSTER_")


def dg_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The caller's environment without any GitBook, warehouse, dlt or Dagster setting, plus
    `settings`: a run that passes needs nothing but what the test gives it.

    DAGSTER_HOME holds a copy of the repository's dagster.yaml (telemetry off, the pool limit
    `dagster dev` uses), so no temporary instance folder appears in the repository root.
    VIRTUAL_ENV is what activating the venv sets; without it dg warns that the project's .venv
    is not the active one.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROJECT_ENV_PREFIXES)}
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir(exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env.update(
        DAGSTER_HOME=str(dagster_home),
        DLT_DATA_DIR=str(tmp_path / "dlt_data"),
        # dbt's scratch folder, not a setting: the session's, not the repository's data/dbt.
        **{TARGET_PATH_ENV: str(SHARED_DBT_TARGET)},
        VIRTUAL_ENV=sys.prefix,
        # Wide enough that rich does not cut asset keys in `dg list defs` tables.
        COLUMNS="200",
        **settings,
    )
    return env


def run_dg(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """`dg ARGS` from the repository root, where it finds pyproject.toml's [tool.dg]."""
    completed = subprocess.run(
        [str(DG), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, (
        f"dg {' '.join(args)} exited {completed.returncode}\n"
        f"stdout:\n{completed.stdout[-3000:]}\nstderr:\n{completed.stderr[-3000:]}"
    )
    return completed


def test_dg_check_defs_loads_the_code_location_with_nothing_configured(tmp_path: Path) -> None:
    completed = run_dg("check", "defs", env=dg_env(tmp_path))

    assert "All definitions loaded successfully." in completed.stdout
    # Nothing is read at import, so no setting is asked for; and dg found the project's venv.
    output = completed.stdout + completed.stderr
    assert "GITBOOK_ACCESS_TOKEN" not in output
    assert "does not match the virtual environment" not in output


def test_dg_list_defs_shows_what_dagster_loads_in_process(tmp_path: Path) -> None:
    env = dg_env(tmp_path)
    listed = json.loads(run_dg("list", "defs", "--json", env=env).stdout)

    # dg must load exactly what Dagster loads in process: every asset, check, job and schedule.
    loaded = defs()
    graph = loaded.resolve_asset_graph()
    asset_keys = {a["asset_key"] for a in listed["assets"]}
    assert asset_keys == {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {f"gitbook/{spec.name}" for spec in RESOURCES} <= asset_keys
    checks = {c["key"] for c in listed["asset_checks"]}
    assert checks == {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys}
    assert len(checks) >= 26  # the six original tables' checks, at least
    assert {s["name"]: s["cron_schedule"] for s in listed["schedules"]} == {
        s.name: s.cron_schedule for s in loaded.schedules or []
    }
    assert {"gitbook_daily_full_sync", "gitbook_hourly_traffic_sync"} <= {
        s["name"] for s in listed["schedules"]
    }
    assert {j["name"] for j in listed["jobs"]} >= {FULL_SYNC_JOB_NAME, "gitbook_traffic_sync"}
    assert {r["name"] for r in listed["resources"]} >= {"dlt", "gitbook", "warehouse"}

    # The table a person reads names every asset, job and schedule too.
    table = run_dg("list", "defs", env=env).stdout
    for name in (*sorted(asset_keys), FULL_SYNC_JOB_NAME, "gitbook_daily_full_sync"):
        assert name in table


def test_dg_launch_materializes_a_selection_from_environment_settings(
    fake_api: FakeGitBookAPI, dataset: Dataset, tmp_path: Path
) -> None:
    duckdb_path = tmp_path / "dg.duckdb"
    env = dg_env(
        tmp_path,
        GITBOOK_ACCESS_TOKEN=TEST_TOKEN,
        GITBOOK_BASE_URL=fake_api.base_url,
        ANALYTICS_DUCKDB_PATH=str(duckdb_path),
        ANALYTICS_DLT_PIPELINES_DIR=str(tmp_path / "pipelines"),
    )

    completed = run_dg("launch", "--assets", "gitbook/organizations,gitbook/spaces", env=env)

    output = completed.stdout + completed.stderr
    assert "RUN_SUCCESS" in output
    assert TEST_TOKEN not in output
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        tables = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables"
                " where table_schema = 'gitbook' and table_name not like '\\_dlt%' escape '\\'"
            ).fetchall()
        }
        counts = {t: con.execute(f"select count(*) from gitbook.{t}").fetchone()[0] for t in tables}
    expected = dataset.expected_row_counts()
    # Only the selection lands: spaces need organizations' ids, nothing needs members or pages.
    assert counts == {"organizations": expected["organizations"], "spaces": expected["spaces"]}
    # The selected assets' checks ran after them, in the same run.
    assert "Asset check 'organization_id_exists_in_organizations' on 'gitbook/spaces' passed" in (
        output
    )
