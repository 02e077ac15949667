"""The code location loads with nothing configured and describes the graph a user expects."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dagster import AssetKey, DagsterInstance, DefaultSensorStatus, Definitions
from dagster._core.definitions.metadata.metadata_set import TableMetadataSet
from dagster_dbt import DbtProject

import analytics_assets
from analytics_assets.definitions import defs
from analytics_assets.defs.report.assets import REPORT_KEY
from analytics_assets.defs.resources import DEFAULT_DUCKDB_PATH, WarehouseResource
from analytics_assets.gitbook.settings import RESOURCES_BY_NAME, SITE_INSIGHTS_TABLES
from analytics_assets_tests.harness import DBT_TESTS, EXPECTED_PARENTS, TEST_TOKEN, Runner

REPO_ROOT = Path(__file__).resolve().parents[1]
EXPECTED_DEPS = EXPECTED_PARENTS


def key(name: str) -> AssetKey:
    return AssetKey(["gitbook", name])


def test_definitions_load_without_a_token() -> None:
    assert "GITBOOK_ACCESS_TOKEN" not in os.environ
    Definitions.validate_loadable(defs())


def test_assets_have_keys_deps_group_kinds_description_and_columns() -> None:
    from analytics_assets.defs.sync.translator import HISTORY_SPECS

    specs = {**RESOURCES_BY_NAME, **HISTORY_SPECS}
    graph = defs().resolve_asset_graph()

    assert {k for k in graph.get_all_asset_keys() if k.path[0] == "gitbook"} == {
        key(name) for name in EXPECTED_DEPS
    }
    for name, parents in EXPECTED_DEPS.items():
        node = graph.get(key(name))
        assert node.parent_keys == {key(p) for p in parents}, name
        assert node.group_name == "gitbook"
        assert node.kinds == {"dlt", "duckdb"}
        assert node.description == specs[name].description
        table = TableMetadataSet.extract(node.metadata)
        assert table.column_schema is not None
        assert {c.name for c in table.column_schema.columns} == set(specs[name].columns)
        assert table.table_name == f"gitbook.{name}"


def test_dagster_cli_validates_the_code_location_without_a_token() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITBOOK_")}
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_an_installed_package_loads_without_the_project_files(tmp_path: Path) -> None:
    """A wheel ships the package only: no pyproject.toml, so no `[tool.dg]` to find `defs/`."""
    package = Path(analytics_assets.__file__).parent
    shutil.copytree(package, tmp_path / "analytics_assets", ignore=shutil.ignore_patterns("data"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITBOOK_", "ANALYTICS_"))}
    script = (
        "import analytics_assets, sys\n"
        "from analytics_assets.definitions import defs\n"
        "graph = defs().resolve_asset_graph()\n"
        "print(analytics_assets.__file__, len(list(graph.get_all_asset_keys())))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    loaded_from, assets = completed.stdout.split()
    assert Path(loaded_from).is_relative_to(tmp_path)
    assert int(assets) == len(list(defs().resolve_asset_graph().get_all_asset_keys()))


def test_one_asset_materializes_only_what_it_needs(runner: Runner) -> None:
    result = runner.materialize(["content"])

    assert result.success
    materialized = {m.asset_key for m in result.asset_materializations_for_node("gitbook")}
    assert materialized == {key("content")}
    assert runner.warehouse.tables() & set(EXPECTED_DEPS) == {"content"}
    assert not runner.api.requests_to("/v1/user")
    assert not runner.api.requests_to("/v1/orgs/{organizationId}/members")
    assert not runner.api.requests_to("/v1/spaces/{spaceId}/insights/traffic")
    assert runner.api.requests_to("/v1/orgs/{organizationId}/spaces")


@pytest.mark.parametrize("env_token", [True, False])
def test_dlt_configuration_is_the_token_fallback(
    runner: Runner, monkeypatch: pytest.MonkeyPatch, env_token: bool
) -> None:
    if env_token:
        monkeypatch.setenv("GITBOOK_ACCESS_TOKEN", TEST_TOKEN)
    else:
        # dlt's own naming for `access_token` under [sources.gitbook].
        monkeypatch.setenv("SOURCES__GITBOOK__ACCESS_TOKEN", TEST_TOKEN)

    assert runner.materialize(["users"], access_token=None).success


def test_the_spec_template_has_the_same_resources_as_the_real_source() -> None:
    from analytics_assets.defs.sync.assets import source_template
    from analytics_assets.gitbook import gitbook_source
    from analytics_assets.gitbook.history import HISTORIES

    real = gitbook_source(access_token="x", base_url="https://api.gitbook.com")
    # The history tables are loaded by a second source in the same step (history.py).
    histories = {history.name for history in HISTORIES}
    template = set(source_template().selected_resources) - histories

    assert template == set(real.selected_resources)


def test_asset_kinds_follow_the_configured_destination(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTICS_DESTINATION", "postgres")

    graph = defs().resolve_asset_graph()

    assert {frozenset(graph.get(key(name)).kinds) for name in EXPECTED_DEPS} == {
        frozenset({"dlt", "postgres"})
    }
    models = [k for k in graph.get_all_asset_keys() if k.path[0] == "analytics"]
    assert {frozenset(graph.get(k).kinds) for k in models if k != REPORT_KEY} == {
        frozenset({"dbt", "postgres"})
    }
    assert graph.get(REPORT_KEY).kinds == {"html", "postgres"}


def test_models_continue_the_lineage_of_the_raw_tables() -> None:
    """dbt sources are the dlt assets' keys: one graph from the sync through the marts."""
    graph = defs().resolve_asset_graph()
    models = {k for k in graph.get_all_asset_keys() if k.path[0] == "analytics"}
    staging = {k for k in models if k.path[-1].startswith("stg_gitbook__")}

    assert REPORT_KEY in models  # the report follows the marts, in their group
    assert len(models) == 28 and len(staging) == 11  # 27 dbt models and the report
    raw_parents = {p for k in staging for p in graph.get(k).parent_keys}
    assert raw_parents == {
        key(n)
        for n in (
            "organizations",
            "spaces",
            "org_members",
            "content",
            "sites",
            "insights_traffic",
            *(spec.name for spec in SITE_INSIGHTS_TABLES),
        )
    }
    assert {p.path[0] for p in graph.get(REPORT_KEY).parent_keys} == {"analytics"}
    assert all(graph.get(k).group_name == "analytics" for k in models)
    assert all(graph.get(k).automation_condition is not None for k in models)
    checks = [c for c in graph.asset_check_keys if c.asset_key.path[0] == "analytics"]
    blocking = [c for c in checks if graph.get(c).blocking]
    assert (len(checks), len(blocking)) == (DBT_TESTS, DBT_TESTS - 5)  # 5 are WARN


def graph_summary() -> dict[str, Any]:
    """What the UI shows of each asset and check, comparable across processes."""
    graph = defs().resolve_asset_graph()
    summary: dict[str, Any] = {}
    for asset_key in graph.get_all_asset_keys():
        node = graph.get(asset_key)
        summary[asset_key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "description": node.description,
            "automation": str(node.automation_condition),
            "checks": sorted(k.to_user_string() for k in node.check_keys),
            # Objects in the metadata (the translator, the project) have per-process addresses.
            "metadata": {
                name: re.sub(r" at 0x[0-9a-f]+", "", repr(value))
                for name, value in node.metadata.items()
            },
        }
    for check_key in graph.asset_check_keys:
        spec = graph.get_check_spec(check_key)
        summary[check_key.to_user_string()] = {
            "blocking": spec.blocking,
            "description": spec.description,
        }
    return summary


def test_the_models_load_without_importing_dbt_core_and_the_same_as_with_it() -> None:
    """dagster-dbt reads the manifest as JSON when dbt-core is not importable at its import
    (`analytics_assets/defs/models/__init__.py`): no dbt-core in the code location's processes,
    and the same definitions as when dagster-dbt finds it."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys; from analytics_assets.definitions import defs; defs();"
            "import dagster_dbt.compat as c;"
            "print(json.dumps([c.DBT_PYTHON_VERSION is None, 'dbt.contracts' in sys.modules]))",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(loaded.stdout.splitlines()[-1]) == [True, False], loaded.stdout
    with_dbt_core = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, dbt.version, dagster_dbt.compat as c;"
            "assert c.DBT_PYTHON_VERSION is not None;"
            "from analytics_assets_tests.test_definitions import graph_summary;"
            "print(json.dumps(graph_summary()))",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(with_dbt_core.stdout.splitlines()[-1]) == json.loads(
        json.dumps(graph_summary())
    )
    # Hidden only while dagster-dbt was imported: dbt-core stays importable afterwards.
    import dbt.version

    assert dbt.version.__version__


def test_the_dbt_resource_knows_its_version_without_running_dbt() -> None:
    """dagster-dbt asks `dbt --version` before each command, and dbt asks PyPI; the resource the
    code location uses answers from the installed dbt-core instead, which is the dbt it runs."""
    import shutil

    import dbt.version

    from analytics_assets.defs.models.project import DBT_EXECUTABLE, models_project

    resource = defs().resources["dbt"]
    assert resource.dbt_executable == DBT_EXECUTABLE
    assert Path(DBT_EXECUTABLE).parent == Path(sys.executable).parent
    assert str(resource._cli_version) == dbt.version.__version__
    # The same resource on an executable that fails whenever it runs: nothing ran.
    never_runs = type(resource)(project_dir=models_project(), dbt_executable=shutil.which("false"))
    assert str(never_runs._cli_version) == dbt.version.__version__


def test_a_destination_without_a_dbt_profile_stops_the_models_sensor_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sync runs on any dlt destination; the models only where the dbt profile has an output,
    and elsewhere they fail loudly when asked for, rather than after every sync."""
    monkeypatch.setenv("ANALYTICS_DESTINATION", "bigquery")
    definitions = defs()

    sensor = {s.name: s for s in definitions.sensors}["gitbook_models_automation"]
    assert sensor.default_status == DefaultSensorStatus.STOPPED
    assert "no output for 'bigquery'" in (sensor.description or "")

    with DagsterInstance.ephemeral() as instance:
        result = definitions.resolve_job_def("gitbook_models").execute_in_process(
            instance=instance, raise_on_error=False
        )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "ANALYTICS_DESTINATION is 'bigquery'" in message
    assert "profiles.yml" in message


@pytest.mark.parametrize("name", ["gitbook", "gitbook_staging", "analytics", "main"])
def test_a_duckdb_file_named_like_a_schema_it_holds_is_refused_naming_the_setting(
    tmp_path: Path, name: str
) -> None:
    """DuckDB would name the file's catalog like the schema, and every load would fail as
    ambiguous; the run fails first, saying which setting to change."""
    warehouse = WarehouseResource(duckdb_path=str(tmp_path / f"{name}.duckdb"))
    with pytest.raises(ValueError) as refused:
        warehouse.resolve_duckdb_path()
    assert "ANALYTICS_DUCKDB_PATH" in str(refused.value) and f"'{name}'" in str(refused.value)
    assert "data/warehouse.duckdb" in str(refused.value)


def test_the_default_duckdb_file_takes_a_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default file, where `dagster dev` and the README's commands write, holds the dataset."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ANALYTICS_DUCKDB_PATH", raising=False)
    assert WarehouseResource().resolve_duckdb_path() == tmp_path / DEFAULT_DUCKDB_PATH
    pipeline = WarehouseResource(pipelines_dir=str(tmp_path / "pipelines")).build_pipeline()
    pipeline.run([{"id": 1}], table_name="probe")
    with pipeline.sql_client() as client:
        assert client.execute_sql("select id from gitbook.probe") == [(1,)]


def test_a_models_run_keeps_its_parse_for_the_next_run(tmp_path: Path) -> None:
    """A run starts from the kept parse; a run's parse replaces it, whole, and a run that wrote
    none (dbt failed before parsing) leaves it alone."""
    from analytics_assets.defs.models.project import (
        PARTIAL_PARSE,
        keep_partial_parse,
        seed_partial_parse,
    )

    project_dir = tmp_path / "project"
    (project_dir / "target").mkdir(parents=True)
    (project_dir / "dbt_project.yml").write_text("name: probe\nprofile: probe\n")
    project = DbtProject(project_dir=project_dir)
    kept = project_dir / "target" / PARTIAL_PARSE
    kept.write_bytes(b"older")
    run = tmp_path / "run"
    run.mkdir()

    keep_partial_parse(run, project)
    assert kept.read_bytes() == b"older"

    (run / PARTIAL_PARSE).write_bytes(b"this run's parse")
    keep_partial_parse(run, project)
    assert kept.read_bytes() == b"this run's parse"
    assert sorted(p.name for p in kept.parent.iterdir()) == [PARTIAL_PARSE]

    following = tmp_path / "following_run"
    seed_partial_parse(project, following)
    assert (following / PARTIAL_PARSE).read_bytes() == b"this run's parse"


def test_each_models_run_gets_a_folder_and_only_the_newest_failed_ones_stay(
    tmp_path: Path,
) -> None:
    """Run folders sit beside the project's target, outside the package; beyond the newest
    KEPT_FAILED_RUNS, the oldest are removed when the next run starts."""
    from analytics_assets.defs.models.project import (
        KEPT_FAILED_RUNS,
        RUNS_FOLDER,
        run_target_path,
    )

    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "dbt_project.yml").write_text("name: probe\nprofile: probe\n")
    project = DbtProject(project_dir=tmp_path / "project", target_path=tmp_path / "dbt" / "target")
    runs = tmp_path / "dbt" / RUNS_FOLDER
    for age in range(KEPT_FAILED_RUNS + 3):
        failed = runs / f"failed-{age:02d}"
        failed.mkdir(parents=True)
        os.utime(failed, (1_000_000 - age, 1_000_000 - age))  # failed-00 is the newest

    folder = run_target_path(project, "0123456789abcdef")

    assert folder.parent == runs and folder.name.startswith("01234567-")
    kept = sorted(p.name for p in runs.iterdir())
    assert kept == [f"failed-{age:02d}" for age in range(KEPT_FAILED_RUNS)]
