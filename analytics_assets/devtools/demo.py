"""Run the jobs on the embedded default: the bundled GitBook-compatible API into DuckDB.

    python -m analytics_assets.devtools.demo [--duckdb-path data/demo.duckdb]

Runs `gitbook_full_sync`, then the last seven UTC days of the site insights tables in one
backfill-style run, then the dbt models (`gitbook_models`), and prints the rows per table and the
first rows of four marts: the top pages, the broken URLs, the searches without results and the
worst-rated pages; the models run also writes the insights report (`data/demo_report.html`).
Needs no token and no network: the API runs on a free loopback port for the jobs' duration and
checks a throwaway token. The demo writes to its own DuckDB file and report so that its
generated data never mixes with a real sync's.
"""

import argparse
import io
import sys
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path

from analytics_assets.defs.checks.quality import Tables, row_count
from analytics_assets.defs.models.profile import scoped_env
from analytics_assets.defs.report.assets import REPORT_PATH_ENV
from analytics_assets.defs.resources import WarehouseResource
from analytics_assets.devtools.bundled import RECENT_DAYS, bundled_gitbook, run_all
from analytics_assets.devtools.report import format_table
from analytics_assets.gitbook.settings import TABLES

DEFAULT_DEMO_DUCKDB = Path("data") / "demo.duckdb"
DEFAULT_DEMO_PIPELINES_DIR = Path("data") / "demo_pipelines"
DEFAULT_DEMO_REPORT = Path("data") / "demo_report.html"


def row_counts(warehouse: WarehouseResource, tables: Sequence[str]) -> dict[str, int]:
    """Rows per table, read from the destination (the tables come from two dlt pipelines)."""
    with warehouse.build_pipeline().sql_client() as client:
        db = Tables(client, set(tables))
        return {table: row_count(db, table) for table in tables}


# What the demo shows of the marts: the first rows a docs team would read.
MART_QUERIES = {
    "Top pages, last 30 days (analytics.top_pages_30d)": (
        ["rank", "page", "space", "views"],
        "select page_rank, page_title, space_title, views from analytics.top_pages_30d "
        "order by page_rank limit 5",
    ),
    "Broken URLs, people's real 404s by views (analytics.broken_urls)": (
        ["site", "url_path", "views"],
        "select site_title, url_path, views from analytics.broken_urls "
        "order by views desc, site_title, url_path limit 5",
    ),
    "Searches without results, last 30 days (analytics.searches_without_results_30d)": (
        ["rank", "site", "query", "searches"],
        "select gap_rank, site_title, search_query, searches "
        "from analytics.searches_without_results_30d order by gap_rank limit 5",
    ),
    "Worst-rated pages, last 30 days (analytics.worst_rated_pages_30d)": (
        ["rank", "page", "score", "ratings", "bad", "views"],
        "select page_rank, page_title, round(rating_score, 2), ratings, rated_bad, views "
        "from analytics.worst_rated_pages_30d order by page_rank limit 5",
    ),
}


def mart_rows(warehouse: WarehouseResource, sql: str) -> list[list[object]]:
    """A mart's rows, read through dlt's SQL client like the row counts."""
    with warehouse.build_pipeline().sql_client() as client:
        return [list(row) for row in client.execute_sql(sql) or []]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb-path", type=Path, default=DEFAULT_DEMO_DUCKDB)
    parser.add_argument("--pipelines-dir", type=Path, default=DEFAULT_DEMO_PIPELINES_DIR)
    parser.add_argument("--report-path", type=Path, default=DEFAULT_DEMO_REPORT)
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="Dagster's console log level for the runs (DEBUG shows every event and progress).",
    )
    args = parser.parse_args(argv)

    warehouse = WarehouseResource(
        destination="duckdb",
        duckdb_path=str(args.duckdb_path),
        pipelines_dir=str(args.pipelines_dir),
    )
    print(
        "Syncing the bundled GitBook API: gitbook_full_sync, then the last "
        f"{RECENT_DAYS} days of the site insights tables, then the dbt models (gitbook_models; run "
        "log: --log-level DEBUG) ...",
        flush=True,
    )
    # dagster-dbt echoes dbt's own log to stdout; shown with DEBUG, or when something failed.
    dbt_log = io.StringIO()
    quiet = args.log_level != "DEBUG"
    report = {REPORT_PATH_ENV: str(args.report_path.resolve())}  # read by the report asset
    with (
        bundled_gitbook() as gitbook,
        redirect_stdout(dbt_log if quiet else sys.stdout),
        scoped_env(report),
    ):
        results = run_all(gitbook, warehouse, log_level=args.log_level)
    if not all(result.success for result in results):
        print(dbt_log.getvalue(), file=sys.stderr)
        print(
            "The demo sync failed; see the errors above (--log-level DEBUG shows the run log).",
            file=sys.stderr,
        )
        return 1

    counts = row_counts(warehouse, [spec.name for spec in TABLES])
    checks = [check for result in results for check in result.get_asset_check_evaluations()]
    print(
        f"\nLoaded the bundled GitBook API into {args.duckdb_path.resolve()} (dataset gitbook):\n"
    )
    print(format_table(["table", "rows"], sorted(counts.items())))
    for title, (headers, sql) in MART_QUERIES.items():
        print(f"\n{title}:\n")
        print(format_table(headers, mart_rows(warehouse, sql)))
    passed = sum(check.passed for check in checks)
    print(f"\nAsset checks (dbt tests included): {passed} of {len(checks)} passed.")
    print(f"The insights report, charts of the marts: {args.report_path.resolve().as_uri()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
