"""Empty is a valid state: every table a sync selected exists after it, even with zero rows.

dlt creates a table only when rows reach it, so an account with no sites, or today's API without
the traffic endpoint, would leave `sites` or `insights_traffic` missing, and every check on it
red. Once a table exists, dlt truncates a `replace` table whose resource yielded nothing, so only
a table's first sync needs help: after a successful load, each selected table that has never
been created is created empty with its declared columns, by loading dlt's
`materialize_table_schema()` marker under the resource's own hints.
"""

from __future__ import annotations

from collections.abc import Iterable

import dlt
from dlt.common.schema.utils import has_table_seen_data
from dlt.extract.resource import DltResource


def missing_tables(pipeline: dlt.Pipeline, resources: Iterable[DltResource]) -> list[DltResource]:
    """The resources whose table the destination has never been given."""
    tables = pipeline.default_schema.tables
    return [
        resource
        for resource in resources
        if resource.table_name not in tables or not has_table_seen_data(tables[resource.table_name])
    ]


def create_missing_tables(
    pipeline: dlt.Pipeline, resources: Iterable[DltResource], loader_file_format: str | None = None
) -> list[str]:
    """Create the never-loaded tables of `resources` empty; returns their names.

    Runs only after the sync's own load succeeded, so a failed sync creates nothing.
    """
    missing = missing_tables(pipeline, resources)
    if not missing:
        return []
    markers = []
    for resource in missing:
        table = resource.compute_table_schema()
        marker = dlt.resource([dlt.mark.materialize_table_schema()], name=resource.name)
        marker.apply_hints(
            table_name=table["name"],
            columns=table.get("columns", {}),
            write_disposition=resource.write_disposition,
        )
        markers.append(marker)
    pipeline.run(
        markers,
        schema=pipeline.default_schema,
        **({"loader_file_format": loader_file_format} if loader_file_format else {}),
    )
    return [str(resource.table_name) for resource in missing]
