"""dagster-dlt's resource, kept from changing the dlt schema it describes.

dagster-dlt 0.29 builds each materialization's column metadata by popping `name`, `data_type`,
`nullable` and `unique` out of the live schema's column entries (dagster-io/dagster#34052, fix
open as #34053). The next load in the same step (the empty tables, the histories) then saves
that schema: every column loses its type, dlt re-infers them each sync, and its schema contract
sees every table as new, so `freeze` would refuse nothing.
"""

from typing import Any

from dagster_dlt import DagsterDltResource
from dagster_dlt.resource import TableSchema
from dlt.common.schema import Schema


class _ColumnCopies:
    """The part of a dlt schema dagster-dlt reads, handing out copies of the column entries."""

    def __init__(self, schema: Schema):
        self._schema = schema

    def get_table_columns(self, table_name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        columns = self._schema.get_table_columns(table_name, *args, **kwargs)
        return {name: dict(column) for name, column in columns.items()}


class SchemaSafeDltResource(DagsterDltResource):
    """`DagsterDltResource`, reading copies of the schema's columns instead of the live ones."""

    def _extract_table_schema_metadata(self, table_name: str, schema: Schema) -> TableSchema:
        return super()._extract_table_schema_metadata(table_name, _ColumnCopies(schema))  # type: ignore[arg-type]


def schema_safe(resource: DagsterDltResource) -> DagsterDltResource:
    """The resource a run uses: the safe one whatever was configured (neither takes settings)."""
    return resource if isinstance(resource, SchemaSafeDltResource) else SchemaSafeDltResource()
