"""The contenders, each run in its own process by `run.py` so its peak RSS is its own.

    python benchmarks/contenders.py baseline|project|dagster|cli BASE_URL WORKDIR

Reads the token from GITBOOK_ACCESS_TOKEN; prints one JSON line: {"wall": s, "rows": n}.
"""

import json
import sys
import time
from pathlib import Path
from typing import Any

import dlt
from dlt.sources.rest_api import rest_api_source

PAGINATOR = {"type": "cursor", "cursor_param": "page", "cursor_path": "next.page"}


def parent_key(parent: str) -> str:
    return {"organizations": "organization_id", "spaces": "space_id"}[parent]


def rename(old: str, new: str) -> Any:
    def step(item: dict) -> dict:
        item[new] = item.pop(old)
        return item

    return step


def baseline_source(base_url: str, token: str) -> Any:
    """The design document's configuration, changed only as far as needed to run on dlt 1.31:
    no `stop_condition` (not a dlt key), a `spaces` parent for `{space_id}`, composite keys.
    Everything else, including dlt's sequential defaults, is as a user would write it."""

    def top(name: str, path: str, selector: str) -> dict:
        return {
            "name": name,
            "endpoint": {"path": path, "data_selector": selector, "paginator": PAGINATOR},
        }

    def child(
        name: str, path: str, selector: str, parent: str, key: list[str] | None = None
    ) -> dict:
        param = path.split("{")[1].split("}")[0]
        return {
            "name": name,
            "endpoint": {
                "path": path,
                "data_selector": selector,
                "paginator": PAGINATOR,
                "params": {param: {"type": "resolve", "resource": parent, "field": "id"}},
            },
            "include_from_parent": ["id"],
            # dlt names the included id `_<parent>_id`; it must be renamed before it can be
            # part of a primary key, or the normalizer fails.
            "processing_steps": [{"map": rename(f"_{parent}_id", parent_key(parent))}],
            **({"primary_key": key} if key else {}),
        }

    return rest_api_source(
        {
            "client": {"base_url": base_url, "auth": {"type": "bearer", "token": token}},
            "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
            "resources": [
                top("users", "/v1/user", "data"),
                top("organizations", "/v1/orgs", "items"),
                child("spaces", "/v1/orgs/{organization_id}/spaces", "items", "organizations"),
                child("insights_traffic", "/v1/spaces/{space_id}/insights/traffic", "views",
                      "spaces", ["space_id", "timestamp"]),
                child("content", "/v1/spaces/{space_id}/content", "pages", "spaces",
                      ["space_id", "id"]),
                child("org_members", "/v1/orgs/{organization}/members", "items",
                      "organizations", ["organization_id", "id"]),
            ],
        }
    )  # fmt: skip


def rows_loaded(pipeline: dlt.Pipeline) -> int:
    counts = pipeline.last_trace.last_normalize_info.row_counts
    return sum(n for table, n in counts.items() if not table.startswith("_dlt"))


def timed_run(pipeline: dlt.Pipeline, source: Any, **run_kwargs: Any) -> dict[str, float]:
    started = time.perf_counter()
    pipeline.run(source, **run_kwargs).raise_on_failed_jobs()
    return {"wall": time.perf_counter() - started, "rows": rows_loaded(pipeline)}


def run_baseline(base_url: str, token: str, workdir: Path) -> dict[str, float]:
    pipeline = dlt.pipeline(
        pipeline_name="bench",
        destination=dlt.destinations.duckdb(credentials=str(workdir / "bench.duckdb")),
        dataset_name="gitbook",
        pipelines_dir=str(workdir / "pipelines"),
    )
    return timed_run(pipeline, baseline_source(base_url, token))


def run_project(base_url: str, token: str, workdir: Path) -> dict[str, float]:
    from analytics_assets.defs.resources import GitBookResource, WarehouseResource
    from analytics_assets.gitbook import gitbook_source

    dlt.config["extract.workers"] = GitBookResource().resolve_max_concurrency()  # as the asset
    warehouse = WarehouseResource(
        duckdb_path=str(workdir / "bench.duckdb"), pipelines_dir=str(workdir / "pipelines")
    )
    source = gitbook_source(access_token=token, base_url=base_url)
    with warehouse.connected() as connection:  # as the asset: one open of the file
        pipeline = warehouse.build_pipeline(connection=connection)
        return timed_run(pipeline, source, loader_file_format=warehouse.loader_file_format())


def run_dagster(base_url: str, token: str, workdir: Path) -> dict[str, float]:
    from dagster import DagsterInstance, materialize
    from dagster_dlt import DagsterDltResource

    from analytics_assets.defs.resources import GitBookResource, WarehouseResource
    from analytics_assets.defs.sync.assets import build_gitbook_assets

    assets = build_gitbook_assets()
    with DagsterInstance.ephemeral() as instance:
        started = time.perf_counter()
        result = materialize(
            [assets],
            instance=instance,
            resources={
                "dlt": DagsterDltResource(),
                "gitbook": GitBookResource(access_token=token, base_url=base_url),
                "warehouse": WarehouseResource(
                    duckdb_path=str(workdir / "bench.duckdb"),
                    pipelines_dir=str(workdir / "pipelines"),
                ),
            },
        )
        wall = time.perf_counter() - started
    rows = sum(
        int(m.metadata["dagster/row_count"].value)  # type: ignore[arg-type]
        for m in result.asset_materializations_for_node("gitbook")
    )
    return {"wall": wall, "rows": rows}


def run_cli(base_url: str, token: str, workdir: Path) -> dict[str, float]:
    """What cron or CI runs: `dagster job execute -j gitbook_full_sync`, its checks included,
    on a fresh instance made from the repository's dagster.yaml. Timed from the CLI process's
    start to its exit, so imports, the definitions load and everything after the run count."""
    import os
    import shutil
    import subprocess

    import duckdb

    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "dagster.yaml", home / "dagster.yaml")
    database = workdir / "bench.duckdb"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "GITBOOK_BASE_URL": base_url,
        "ANALYTICS_DUCKDB_PATH": str(database),
        "ANALYTICS_DLT_PIPELINES_DIR": str(workdir / "pipelines"),
    }
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "job", "execute", "-m", "analytics_assets.definitions"]
    started = time.perf_counter()
    subprocess.run(
        [*command, "-j", "gitbook_full_sync"], env=env, cwd=workdir, check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - started
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = connection.execute(
            "select table_name from information_schema.tables where table_schema = 'gitbook' "
            "and table_name not like '\\_dlt%' escape '\\' and table_name not like '%history%'"
        ).fetchall()
        rows = sum(
            connection.execute(f'select count(*) from gitbook."{name}"').fetchone()[0]  # type: ignore[index]
            for (name,) in tables
        )
    return {"wall": wall, "rows": rows}


def main() -> None:
    contender, base_url, workdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    import os

    token = os.environ["GITBOOK_ACCESS_TOKEN"]
    if contender == "baseline":
        outcome = run_baseline(base_url, token, workdir)
    elif contender == "project":
        outcome = run_project(base_url, token, workdir)
    elif contender == "cli":
        outcome = run_cli(base_url, token, workdir)
    else:
        outcome = run_dagster(base_url, token, workdir)
    print(json.dumps(outcome))


if __name__ == "__main__":
    main()
