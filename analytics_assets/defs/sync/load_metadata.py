"""Materialization metadata read back from the destination after a load.

dagster-dlt's own `dagster/table_name` uses the dlt schema name instead of the dataset, and its
`fetch_row_count()` fails a whole run when a selected resource loaded no rows; this module
replaces both with values read through dlt's destination-neutral dataset access, and adds each
table's column profile (`PROFILE_KEY`), which the schema drift check compares load to load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dlt
from dagster import MaterializeResult, MetadataValue
from dagster._core.definitions.metadata.metadata_set import TableMetadataSet
from dlt.common.schema.utils import has_table_seen_data

from analytics_assets.gitbook.schema_drift import column_profile, loaded_columns

# The table's columns, their types and which hold a value after the load (`column_profile`).
PROFILE_KEY = "gitbook/column_profile"


def table_row_counts(pipeline: dlt.Pipeline, tables: Iterable[str]) -> dict[str, int]:
    """Rows per table in the destination; 0 for a table that was never created."""
    schema = pipeline.default_schema
    existing = [
        table
        for table in tables
        if table in schema.tables and has_table_seen_data(schema.tables[table])
    ]
    counts = dict.fromkeys(tables, 0)
    if existing:
        for table_name, row_count in pipeline.dataset().row_counts(table_names=existing).fetchall():
            counts[table_name] = int(row_count)
    return counts


def with_destination_metadata(
    results: Iterable[MaterializeResult],
    pipeline: dlt.Pipeline,
    tables: Mapping[str, str],
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    load_ids: Sequence[str] | None = None,
    emptied: Mapping[str, set[str]] | None = None,
) -> list[MaterializeResult]:
    """Add the row count, the right table name and the column profile to each result.

    `tables` maps each result's asset key (as a user string) to its table name; `extra` adds
    metadata per table name; `load_ids` scopes the profiles to this run's rows (a partitioned
    table), else they cover the whole table; `emptied` names the columns per table that are
    empty by configuration (GITBOOK_PII=drop), recorded in the profile as `ignored`.
    """
    results = list(results)
    counts = table_row_counts(pipeline, tables.values())
    schema = pipeline.default_schema
    with pipeline.sql_client() as client:
        profiles = {
            table: {
                **column_profile(client, table, loaded_columns(schema, table), load_ids),
                "ignored": sorted((emptied or {}).get(table, ())),
            }
            for table in tables.values()
        }
    updated = []
    for result in results:
        assert result.asset_key is not None
        table = tables[result.asset_key.to_user_string()]
        metadata = {
            **(result.metadata or {}),
            **TableMetadataSet(
                row_count=counts[table], table_name=f"{pipeline.dataset_name}.{table}"
            ),
            PROFILE_KEY: MetadataValue.json(profiles[table]),
            **(extra or {}).get(table, {}),
        }
        updated.append(
            MaterializeResult(
                asset_key=result.asset_key,
                metadata=metadata,
                check_results=result.check_results,
                data_version=result.data_version,
                tags=result.tags,
            )
        )
    return updated
