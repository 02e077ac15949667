"""The site insights tables (`gitbook/site_insights_daily` and the other groupings of
`site_insights_groupings.py`): daily-partitioned assets with their own dlt pipeline.

Their own `@dlt_assets` so their partitions never force partitions on the other tables, and
their own pipeline name in a run-private working folder so two runs never share a pipeline's
local state. A run covers one day or, in a backfill, a range of days, for every table (or the
selected ones); each day replaces its rows. A day that fails for a table does not stop the
others: they load and are marked materialized one partition at a time, and the run then fails
naming the failed days and the command that re-runs only them.

Backfills are single runs (`BackfillPolicy.single_run()`): inside a run every (table, site, day)
is a task for the source's workers, so a month costs little more wall time than a day, and
`dagster asset materialize --partition-range` (which requires this policy) works from the CLI.
"""

import tempfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetMaterialization,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    definitions,
)
from dagster_dlt import DagsterDltResource, dlt_assets
from dlt import resource as dlt_resource
from dlt.common.schema import Schema
from dlt.extract.source import DltSource

from analytics_assets.defs.resources import GitBookResource, WarehouseResource
from analytics_assets.defs.sync.assets import CONCURRENCY_POOL, run_source
from analytics_assets.defs.sync.failures import explained_failures
from analytics_assets.defs.sync.progress import DEFAULT_PROGRESS_SECONDS, SyncProgress
from analytics_assets.defs.sync.translator import GitBookTranslator, asset_key
from analytics_assets.gitbook.failed_days import FailedDays, contiguous_ranges
from analytics_assets.gitbook.settings import SITE_INSIGHTS_TABLES
from analytics_assets.settings import OperationsConfig

SITE_INSIGHTS_ASSETS_NAME = "gitbook_site_insights"
SITE_INSIGHTS_PIPELINE = "gitbook_site_insights"
SITE_INSIGHTS_KEYS = [asset_key(spec.name) for spec in SITE_INSIGHTS_TABLES]


def site_insights_partitions(start: date) -> DailyPartitionsDefinition:
    """UTC days from `start` through today: `end_offset=1` makes today's partition exist, so the
    hourly schedule can refresh it while the day is still running."""
    return DailyPartitionsDefinition(
        start_date=start.isoformat(), timezone="UTC", end_offset=1, fmt="%Y-%m-%d"
    )


def days_between(start: date, end: date) -> list[date]:
    """The UTC days in [start, end)."""
    return [start + timedelta(days=offset) for offset in range((end - start).days)]


def _template() -> DltSource:
    """The source's shape for the asset spec; each run builds the real one."""
    resources = [dlt_resource([], name=spec.name) for spec in SITE_INSIGHTS_TABLES]
    return DltSource(Schema(SITE_INSIGHTS_PIPELINE), SITE_INSIGHTS_PIPELINE, resources)


def build_site_insights_assets(
    partitions_def: DailyPartitionsDefinition,
    *,
    destination: str = "duckdb",
    freshness_window: timedelta | None = None,
    progress_seconds: float = DEFAULT_PROGRESS_SECONDS,
) -> AssetsDefinition:
    """The partitioned multi-asset; a backfill of any range of days is one run."""
    windows = None
    if freshness_window:
        windows = {spec.name: freshness_window for spec in SITE_INSIGHTS_TABLES}
    translator = GitBookTranslator(destination=destination, freshness_windows=windows)

    @dlt_assets(
        dlt_source=_template(),
        dlt_pipeline=None,  # type: ignore[arg-type]  # built per run by WarehouseResource
        name=SITE_INSIGHTS_ASSETS_NAME,
        dagster_dlt_translator=translator,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        # The same pool as the other tables: an embedded DuckDB file takes one writer.
        pool=CONCURRENCY_POOL,
    )
    def site_insights_assets(
        context: AssetExecutionContext,
        dlt: DagsterDltResource,
        gitbook: GitBookResource,
        warehouse: WarehouseResource,
    ) -> Iterator[MaterializeResult | AssetMaterialization]:
        window = context.partition_time_window
        days = days_between(window.start.date(), window.end.date())
        context.log.info(f"Site insights for {len(days)} UTC day(s): {days[0]} .. {days[-1]}")
        failed: dict[str, FailedDays] = {}
        with explained_failures(gitbook.attempts()), warehouse.connected() as connection:
            progress = SyncProgress(context.log, log_period=progress_seconds)
            access = gitbook.build_access(context.log.warning)
            source = gitbook.build_site_insights_source(
                days,
                warn=context.log.warning,
                info=context.log.info,
                on_page=progress.page,
                access=access,
                failed_days=failed,
            )
            run_dir = warehouse.resolve_pipelines_dir() / SITE_INSIGHTS_PIPELINE
            run_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f"{context.run.run_id}-", dir=run_dir) as tmp:
                pipeline = warehouse.build_pipeline(
                    SITE_INSIGHTS_PIPELINE,
                    progress=progress,
                    pipelines_dir=Path(tmp),
                    connection=connection,
                )
                contract = gitbook.resolve_schema_contract()
                loads = run_source(
                    context, dlt, translator, source, pipeline, warehouse, access, contract=contract
                )
                results = list(loads)
        failed = {table: days for table, days in failed.items() if days}
        if not failed:
            yield from results
            return
        for result in results:
            table = result.asset_key.path[-1]  # type: ignore[union-attr]
            if table not in failed:
                yield result
                continue
            for day in days:  # a result would mark every day of the run materialized
                if day not in failed[table]:
                    yield AssetMaterialization(
                        asset_key=result.asset_key,  # type: ignore[arg-type]
                        partition=day.isoformat(),
                        metadata=result.metadata,
                    )
        raise Failure(
            description=failed_days_message(failed, days),
            metadata={
                "failed_days": MetadataValue.json(
                    {table: [d.isoformat() for d in f.days] for table, f in failed.items()}
                )
            },
        )

    return site_insights_assets


def failed_days_message(failed: dict[str, FailedDays], days: list[date]) -> str:
    """Which days of which tables did not load and why, and the command that re-runs only them."""
    reasons = "; ".join(
        f"{table} {day}: {why}"
        for table, table_failed in failed.items()
        for day, why in table_failed.reasons().items()
    )
    commands = " and ".join(
        "dagster asset materialize -m analytics_assets.definitions --select "
        f"{asset_key(table).to_user_string()} --partition-range {first}...{last}"
        for table, table_failed in failed.items()
        for first, last in contiguous_ranges(table_failed.days)
    )
    return (
        f"Site insights: some UTC days could not be loaded and kept the rows they had "
        f"({reasons}). Every other day of the run's {len(days)} loaded and is materialized. "
        f"Once the cause is fixed, re-run only the failed days: {commands} (or backfill those "
        "partitions from the asset's page in the UI)."
    )


@definitions
def defs() -> Definitions:
    ops = OperationsConfig.from_env()
    assets = build_site_insights_assets(
        site_insights_partitions(ops.site_insights_start),
        destination=WarehouseResource().resolve_destination(),
        freshness_window=ops.freshness_window_for(SITE_INSIGHTS_TABLES[0].name),
        progress_seconds=ops.progress_seconds,
    )
    return Definitions(assets=[assets])
