"""The CI gate: sync, run every asset check, print the results, fail on any ERROR check.

The sync is `gitbook_full_sync` plus the last seven UTC days of the site insights tables, then
`gitbook_models` (dbt build: the models and their tests, which are asset checks too).

    python -m analytics_assets.devtools.gate                     # bundled API -> throwaway DuckDB
    python -m analytics_assets.devtools.gate --api-from-env      # GITBOOK_* settings
    python -m analytics_assets.devtools.gate --warehouse-from-env  # ANALYTICS_* destination

Exit status: 0 when the sync succeeded and no ERROR-severity check failed; 1 otherwise. WARN
checks are reported but never fail the gate.
"""

import argparse
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from dagster import AssetCheckEvaluation, AssetCheckSeverity

from analytics_assets.defs.resources import GitBookResource, WarehouseResource
from analytics_assets.devtools.bundled import bundled_gitbook, run_all
from analytics_assets.devtools.report import format_table

# The full sync, the site insights days, the dbt models.
RUNS = 3


@contextmanager
def throwaway_warehouse() -> Iterator[WarehouseResource]:
    with tempfile.TemporaryDirectory(prefix="gitbook-gate-") as tmp:
        yield WarehouseResource(
            destination="duckdb",
            duckdb_path=str(Path(tmp) / "gate.duckdb"),
            pipelines_dir=str(Path(tmp) / "pipelines"),
        )


def check_rows(evaluations: Sequence[AssetCheckEvaluation]) -> list[list[object]]:
    rows: list[list[object]] = []
    for ev in sorted(evaluations, key=lambda e: e.asset_check_key.to_user_string()):
        failing = ev.metadata.get("failing_rows")
        detail = ev.metadata.get("detail")
        rows.append(
            [
                ev.asset_key.to_user_string(),
                ev.check_name,
                ev.severity.value,
                "pass" if ev.passed else "FAIL",
                failing.value if failing is not None else 0,
                detail.value if detail is not None and not ev.passed else "",
            ]
        )
    return rows


def gate_failed(evaluations: Sequence[AssetCheckEvaluation]) -> bool:
    return any(not ev.passed and ev.severity == AssetCheckSeverity.ERROR for ev in evaluations)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--api-from-env",
        action="store_true",
        help="Sync the GitBook API configured by GITBOOK_* / .dlt instead of the bundled one.",
    )
    parser.add_argument(
        "--warehouse-from-env",
        action="store_true",
        help="Load into the destination configured by ANALYTICS_* / .dlt (e.g. staging).",
    )
    args = parser.parse_args(argv)

    with ExitStack() as stack:
        gitbook = GitBookResource() if args.api_from_env else stack.enter_context(bundled_gitbook())
        warehouse = (
            WarehouseResource()
            if args.warehouse_from_env
            else stack.enter_context(throwaway_warehouse())
        )
        results = run_all(gitbook, warehouse)

    evaluations = [e for result in results for e in result.get_asset_check_evaluations()]
    synced = len(results) == RUNS and all(result.success for result in results)
    print()
    print(
        format_table(
            ["asset", "check", "severity", "result", "failing", "detail"],
            check_rows(evaluations),
        )
    )
    failed = not synced or gate_failed(evaluations) or not evaluations
    errors = sum(not e.passed and e.severity == AssetCheckSeverity.ERROR for e in evaluations)
    warnings = sum(not e.passed and e.severity == AssetCheckSeverity.WARN for e in evaluations)
    print(
        f"\n{len(evaluations)} checks: {errors} ERROR failures, {warnings} WARN failures; "
        f"sync {'succeeded' if synced else 'FAILED'}. Gate: {'FAIL' if failed else 'pass'}."
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
