"""The GitBook assets: one dlt pipeline run materializes any subset of the unpartitioned tables
and their histories."""

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Definitions,
    MaterializeResult,
    MetadataValue,
    definitions,
)
from dagster_dlt import DagsterDltResource, dlt_assets
from dlt import Pipeline
from dlt import config as dlt_config
from dlt import resource as dlt_resource
from dlt.common.schema import Schema
from dlt.extract.source import DltSource

from analytics_assets.defs.resources import GitBookResource, WarehouseResource
from analytics_assets.defs.sync.contract import apply_contract, refused_changes
from analytics_assets.defs.sync.dlt_resource import schema_safe
from analytics_assets.defs.sync.empty_tables import create_missing_tables
from analytics_assets.defs.sync.failures import explained_failures
from analytics_assets.defs.sync.load_metadata import with_destination_metadata
from analytics_assets.defs.sync.progress import DEFAULT_PROGRESS_SECONDS, SyncProgress
from analytics_assets.defs.sync.translator import GitBookTranslator, asset_key
from analytics_assets.gitbook.content import ContentPlan, loaded_revisions
from analytics_assets.gitbook.history import HISTORIES, history_source
from analytics_assets.gitbook.personal_data import protect_stored
from analytics_assets.gitbook.schema_drift import ContractMode
from analytics_assets.gitbook.settings import CONTENT, RESOURCES, SOURCE_NAME
from analytics_assets.settings import OperationsConfig

if TYPE_CHECKING:
    from analytics_assets.gitbook.access import Access

ASSETS_NAME = "gitbook"
# Materialization metadata: what a sync read per parent, and the parents GitBook refused.
COVERAGE_KEY = "gitbook/coverage"
REFUSED_KEY = "gitbook/refused"
# The time a history table's versions opened and closed at in this run (the sync's start).
HISTORY_AS_OF_KEY = "gitbook/history_as_of"
# Two runs must never write the same dlt pipeline at once; runs of these assets share this pool.
CONCURRENCY_POOL = "gitbook_dlt_pipeline"


class SyncConfig(Config):
    """Run config of the `gitbook` assets (`ops: {gitbook: {config: ...}}`)."""

    full_refetch: bool = False
    """Fetch every space's content whatever its revision (also GITBOOK_FULL_REFETCH=true)."""


def content_plan(
    context: AssetExecutionContext, pipeline: Pipeline, full: bool
) -> ContentPlan | None:
    """Which spaces' content this run fetches: those whose revision differs from the loaded one.

    None when `content` is not selected. The loaded revisions are read from the destination.
    """
    if asset_key(CONTENT.name) not in context.selected_asset_keys:
        return None
    if full:
        context.log.info("Content: a full re-fetch was asked for; every space is fetched.")
        return ContentPlan(full=True)
    return ContentPlan(loaded=lambda: loaded_revisions(pipeline))


def source_template() -> DltSource:
    """The source's shape (one resource per GitBook table), for building asset specs.

    It is never run, carries no secret and needs no HTTP stack: each run builds the real
    source from the `GitBookResource`. A test checks that both have the same resources.
    """

    # Built directly rather than through `@dlt.source`, which would start dlt's runtime (and
    # its HTTP stack) just to describe six tables.
    names = [spec.name for spec in RESOURCES] + [history.name for history in HISTORIES]
    resources = [dlt_resource([], name=name) for name in names]
    return DltSource(Schema(SOURCE_NAME), SOURCE_NAME, resources)


def build_gitbook_assets(
    destination: str = "duckdb",
    freshness_windows: Mapping[str, timedelta] | None = None,
    progress_seconds: float = DEFAULT_PROGRESS_SECONDS,
) -> AssetsDefinition:
    """One multi-asset over every GitBook resource, subsettable per table.

    `progress_seconds` is how often a running sync logs pages and rows per resource.
    """
    translator = GitBookTranslator(destination=destination, freshness_windows=freshness_windows)

    @dlt_assets(
        dlt_source=source_template(),
        dlt_pipeline=None,  # type: ignore[arg-type]  # built per run by WarehouseResource
        name=ASSETS_NAME,
        dagster_dlt_translator=translator,
        pool=CONCURRENCY_POOL,
    )
    def gitbook_assets(
        context: AssetExecutionContext,
        config: SyncConfig,
        dlt: DagsterDltResource,
        gitbook: GitBookResource,
        warehouse: WarehouseResource,
    ) -> Iterator[MaterializeResult]:
        with explained_failures(gitbook.attempts()), warehouse.connected() as connection:
            as_of = datetime.now(timezone.utc)
            personal = gitbook.resolve_personal_data()
            progress = SyncProgress(context.log, log_period=progress_seconds)
            access = gitbook.build_access(context.log.warning)
            pipeline = warehouse.build_pipeline(progress=progress, connection=connection)
            # What an earlier GITBOOK_PII mode stored in plain goes before anything loads.
            for table, rows in protect_stored(pipeline, personal).items():
                if rows:
                    context.log.info(f"{table}: {rows} rows rewritten as {personal.mode.value}.")
            selected = {key.path[-1] for key in context.selected_asset_keys}
            current = selected & {spec.name for spec in RESOURCES}
            if current:
                full = config.full_refetch or gitbook.resolve_full_refetch()
                plan = content_plan(context, pipeline, full)
                source = gitbook.build_source(
                    warn=context.log.warning,
                    on_page=progress.page,
                    access=access,
                    content_plan=plan,
                )
                # Enough extract workers for every request slot the source may use.
                dlt_config["extract.workers"] = gitbook.resolve_max_concurrency()

                def partial() -> set[str]:
                    """Content fetched by revision reads only some spaces' pages."""
                    return {CONTENT.name} if plan is not None and plan.unchanged else set()

                yield from run_source(
                    context,
                    dlt,
                    translator,
                    source,
                    pipeline,
                    warehouse,
                    access,
                    contract=gitbook.resolve_schema_contract(),
                    partial=partial,
                    emptied=personal.emptied_columns(),
                )
                if plan is not None:
                    context.log.info(plan.describe())
            histories = [history for history in HISTORIES if history.name in selected]
            if histories:
                # Only after the current tables loaded: a failed sync closes no interval.
                reads = {
                    history.current.name: access.read(history.current.name) for history in histories
                }
                resources = history_source(pipeline, histories, current, reads, as_of)
                history = DltSource(Schema(SOURCE_NAME), SOURCE_NAME, resources)
                stamp = {HISTORY_AS_OF_KEY: MetadataValue.timestamp(as_of)}
                extra = {h.name: stamp for h in histories}
                yield from run_source(
                    context, dlt, translator, history, pipeline, warehouse, access, extra
                )

    return gitbook_assets


def run_source(
    context: AssetExecutionContext,
    dlt: DagsterDltResource,
    translator: GitBookTranslator,
    source: DltSource,
    pipeline: Pipeline,
    warehouse: WarehouseResource,
    access: "Access",
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    contract: ContractMode | None = None,
    partial: Callable[[], set[str]] = set,
    emptied: Mapping[str, set[str]] | None = None,
) -> Iterator[MaterializeResult]:
    """Load `source` through dagster-dlt, create the selected tables that are still missing
    (empty is a valid state), then add the destination's row counts, table names and column
    profiles, and what GitBook refused the token (`access`), to each materialization.

    `contract` is GITBOOK_SCHEMA_CONTRACT for GitBook's own tables (None: the histories); under
    `freeze` a change of GitBook's fields fails the run before anything loads. `partial` names
    the tables this run reads only in part, `emptied` the columns it leaves empty by
    configuration: neither is taken for a removed field."""
    tables = {
        asset_key(name).to_user_string(): resource.table_name
        for name, resource in source.selected_resources.items()
    }
    partitioned = context.assets_def.partitions_def is not None
    file_format = warehouse.loader_file_format()
    if contract is not None:
        apply_contract(context, source, pipeline, contract, partial, emptied or {})
    with refused_changes(pipeline, contract or ContractMode.EVOLVE):
        results = list(
            schema_safe(dlt).run(
                context=context,
                dlt_source=source,
                dlt_pipeline=pipeline,
                dagster_dlt_translator=translator,
                loader_file_format=file_format,
            )
        )
    load_ids = list(pipeline.last_trace.last_load_info.loads_ids) if partitioned else None
    selected = [
        resource
        for name, resource in source.selected_resources.items()
        if asset_key(name) in context.selected_asset_keys
    ]
    if created := create_missing_tables(pipeline, selected, file_format):
        context.log.info(f"Created empty tables (no rows yet): {', '.join(created)}")
    coverage = {
        table: {**coverage_metadata(access, table), **(extra or {}).get(table, {})}
        for table in tables.values()
    }
    yield from with_destination_metadata(  # type: ignore[arg-type]
        results, pipeline, tables, coverage, load_ids, emptied
    )


def coverage_metadata(access: "Access", table: str) -> dict[str, Any]:
    """What the sync read of `table`, per parent: shown in the UI, read by the access check."""
    coverage = access.coverage(table)
    if coverage is None:
        return {}
    return {
        COVERAGE_KEY: MetadataValue.text(coverage.describe()),
        REFUSED_KEY: MetadataValue.json(list(coverage.refused)),
    }


@definitions
def defs() -> Definitions:
    """The asset kinds name the destination that ANALYTICS_DESTINATION selects."""
    ops = OperationsConfig.from_env()
    windows = {spec.name: ops.freshness_window_for(spec.name) for spec in RESOURCES}
    # A history is as fresh as the sync that loads its current table.
    windows |= {h.name: ops.freshness_window_for(h.current.name) for h in HISTORIES}
    assets = build_gitbook_assets(
        destination=WarehouseResource().resolve_destination(),
        freshness_windows=windows,
        progress_seconds=ops.progress_seconds,
    )
    return Definitions(assets=[assets])
