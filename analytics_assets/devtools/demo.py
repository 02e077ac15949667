"""Run the main job on the embedded default: the bundled GitBook-compatible API into DuckDB.

    python -m analytics_assets.devtools.demo [--duckdb-path data/demo.duckdb]

Needs no token and no network: the API runs on a free loopback port for the job's duration and
checks a throwaway token. The demo writes to its own DuckDB file so that its generated data never
mixes with a real sync's.
"""

import argparse
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from dagster import DagsterInstance

from analytics_assets.definitions import defs
from analytics_assets.devtools.fake_api import Dataset, FakeGitBookAPI
from analytics_assets.jobs import FULL_SYNC_JOB_NAME
from analytics_assets.load_metadata import table_row_counts
from analytics_assets.resources import GitBookResource, WarehouseResource

DEFAULT_DEMO_DUCKDB = Path("data") / "demo.duckdb"
DEFAULT_DEMO_PIPELINES_DIR = Path("data") / "demo_pipelines"


def format_row_counts(counts: dict[str, int]) -> str:
    """A plain two-column table, widest name first column."""
    width = max([len("table"), *map(len, counts)])
    lines = [f"{'table':<{width}}  {'rows':>7}", f"{'-' * width}  {'-' * 7}"]
    lines += [f"{name:<{width}}  {rows:>7}" for name, rows in sorted(counts.items())]
    return "\n".join(lines)


def run_demo(duckdb_path: Path, pipelines_dir: Path) -> tuple[bool, dict[str, int]]:
    """Materialize every GitBook asset from the bundled API; return success and rows per table."""
    warehouse = WarehouseResource(
        duckdb_path=str(duckdb_path), pipelines_dir=str(pipelines_dir), destination="duckdb"
    )
    token = secrets.token_urlsafe(24)
    with FakeGitBookAPI(dataset=Dataset.demo(), token=token) as api:
        job = defs.resolve_job_def(FULL_SYNC_JOB_NAME)
        result = job.execute_in_process(
            instance=DagsterInstance.ephemeral(),
            resources={
                "gitbook": GitBookResource(access_token=token, base_url=api.base_url),
                "warehouse": warehouse,
            },
            raise_on_error=False,
        )
    if not result.success:
        return False, {}
    pipeline = warehouse.build_pipeline()
    return True, table_row_counts(pipeline, pipeline.default_schema.data_table_names())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb-path", type=Path, default=DEFAULT_DEMO_DUCKDB)
    parser.add_argument("--pipelines-dir", type=Path, default=DEFAULT_DEMO_PIPELINES_DIR)
    args = parser.parse_args(argv)

    ok, counts = run_demo(args.duckdb_path, args.pipelines_dir)
    if not ok:
        print("The demo sync failed; see the run log above.", file=sys.stderr)
        return 1
    print(
        f"\nLoaded the bundled GitBook API into {args.duckdb_path.resolve()} (dataset gitbook):\n"
    )
    print(format_row_counts(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
