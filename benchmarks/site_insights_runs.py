"""Site insights runs through Dagster: the POSTs, rows and wall time of a day and of a month.

    .venv/bin/python benchmarks/site_insights_runs.py [--latency 0.05]

Materializes the five site insights tables with Dagster's `materialize` into a throwaway DuckDB
file, from the bundled API at `--latency` seconds per request (GitBook's limits and schema
validation included): one day and a 31-day backfill of 8 sites, then one site's day of 3,000
groups. Prints one line per run; benchmarks/README.md shows them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from dagster import DagsterInstance, materialize
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster_dlt import DagsterDltResource

from analytics_assets.defs.checks.quality import Tables, row_count
from analytics_assets.defs.resources import GitBookResource, WarehouseResource
from analytics_assets.defs.sync.site_insights import (
    build_site_insights_assets,
    site_insights_partitions,
)
from analytics_assets.devtools.fake_api import TODAY_API, Dataset, FakeGitBookAPI
from analytics_assets.devtools.fake_api.server import SITE_INSIGHTS_AGGREGATE
from analytics_assets.gitbook.settings import SITE_INSIGHTS_TABLES

TOKEN = "benchmark-token"
DAY = date(2024, 6, 30)


def run(dataset: Dataset, latency: float, first: date, last: date) -> str:
    """One single-run backfill of first..last; its POSTs, rows and wall time."""
    with (
        tempfile.TemporaryDirectory(prefix="site-insights-bench-") as tmp,
        FakeGitBookAPI(dataset=dataset, token=TOKEN, api_version=TODAY_API, latency=latency) as api,
        DagsterInstance.ephemeral() as instance,
    ):
        warehouse = WarehouseResource(
            destination="duckdb",
            duckdb_path=str(Path(tmp) / "bench.duckdb"),
            pipelines_dir=str(Path(tmp) / "pipelines"),
        )
        resources = {
            "dlt": DagsterDltResource(),
            "gitbook": GitBookResource(access_token=TOKEN, base_url=api.base_url),
            "warehouse": warehouse,
        }
        tags = {
            ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
        }
        assets = [build_site_insights_assets(site_insights_partitions(date(2024, 1, 1)))]
        started = time.perf_counter()
        result = materialize(assets, tags=tags, instance=instance, resources=resources)
        wall = time.perf_counter() - started
        names = [spec.name for spec in SITE_INSIGHTS_TABLES]
        with warehouse.build_pipeline().sql_client() as client:
            db = Tables(client, set(names))
            rows = sum(row_count(db, name) for name in names)
        posts = len(api.requests_to(SITE_INSIGHTS_AGGREGATE))
    days = (last - first).days + 1
    status = "ok" if result.success else "FAILED"
    return (
        f"{days} day(s), {latency * 1000:.0f} ms: {posts} POSTs, {rows} rows, {wall:.2f} s {status}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    args = parser.parse_args(argv)

    sites = Dataset.generate(orgs=4, sites_per_org=2)
    print("8 sites, one day:", run(sites, args.latency, DAY, DAY), flush=True)
    month = DAY - timedelta(days=30)
    print("8 sites, 31 days:", run(sites, args.latency, month, DAY), flush=True)
    print("8 sites, 31 days:", run(sites, 0.0, month, DAY), flush=True)
    big = Dataset.generate(
        orgs=1, spaces_per_org=2, members_per_org=3, pages_per_space=40,
        traffic_points_per_space=2, sites_per_org=1, big_days={DAY: 3000},
    )  # fmt: skip
    print("1 site, 3,000 groups:", run(big, args.latency, DAY, DAY), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
