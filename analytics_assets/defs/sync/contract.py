"""GITBOOK_SCHEMA_CONTRACT in a sync step: the contract each table loads under, the watch for
removed fields, and a refused change turned into one message with nothing left to load."""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster import AssetExecutionContext
from dlt import Pipeline
from dlt.extract.source import DltSource

from analytics_assets.defs.sync.load_metadata import PROFILE_KEY
from analytics_assets.defs.sync.progress import SyncProgress
from analytics_assets.defs.sync.translator import asset_key
from analytics_assets.gitbook.schema_drift import (
    ContractMode,
    FieldWatch,
    explain_contract_violation,
    usual_columns,
)


def previous_profiles(
    context: AssetExecutionContext, source: DltSource
) -> dict[str, Mapping[str, Any]]:
    """The column profile of each selected table's last load, where it has one."""
    profiles = {}
    for name, resource in source.selected_resources.items():
        records = context.instance.fetch_materializations(asset_key(name), limit=1).records
        event = records[0].asset_materialization if records else None
        profile = event.metadata.get(PROFILE_KEY) if event is not None else None
        if profile is not None:
            profiles[str(resource.table_name)] = profile.value  # type: ignore[assignment]
    return profiles


def apply_contract(
    context: AssetExecutionContext,
    source: DltSource,
    pipeline: Pipeline,
    mode: ContractMode,
    partial: Callable[[], set[str]],
    emptied: Mapping[str, set[str]],
) -> None:
    """Set each selected table's contract for this run: dlt keeps a table's last one, so an
    `evolve` run must say so too. Under `freeze`, a table that has never held rows still takes
    its first fields (its empty table has only the declared columns), and the unpartitioned
    tables are watched for removed fields; `emptied` are columns this run leaves empty by
    configuration (GITBOOK_PII=drop), not by GitBook."""
    frozen = mode is ContractMode.FREEZE
    profiles = previous_profiles(context, source) if frozen else {}
    for resource in source.selected_resources.values():
        held_rows = bool(profiles.get(str(resource.table_name), {}).get("rows"))
        table_mode = ContractMode.FREEZE if frozen and held_rows else ContractMode.EVOLVE
        resource.apply_hints(schema_contract=table_mode.dlt_contract)
    if not frozen or context.assets_def.partitions_def is not None:
        return  # a quiet day of site insights is no removed field
    expected = {
        table: usual_columns(profile) - emptied.get(table, set())
        for table, profile in profiles.items()
        if profile.get("rows")
    }
    watch = FieldWatch(source.schema.naming.normalize_identifier, expected, partial)
    for resource in source.selected_resources.values():
        resource.add_map(watch.mapper(str(resource.table_name)))
    if isinstance(pipeline.collector, SyncProgress):
        pipeline.collector.before_normalize = watch.check


@contextmanager
def refused_changes(pipeline: Pipeline, mode: ContractMode) -> Iterator[None]:
    """A change the frozen contract refused, as `SchemaDriftError`; what the run extracted is
    aborted, so no later run loads it."""
    try:
        yield
    except Exception as exc:
        drift = explain_contract_violation(exc) if mode is ContractMode.FREEZE else None
        if drift is None:
            raise
        pipeline.abort_packages()
        raise drift from None
    finally:
        if isinstance(pipeline.collector, SyncProgress):
            pipeline.collector.before_normalize = None  # the next load in this step is not watched
