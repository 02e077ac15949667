"""Data-quality queries over the loaded tables, through dlt's destination-neutral clients.

Each function returns a `Finding`: how many rows break the rule and a few of their keys. SQL is
plain ANSI with identifiers quoted by dlt's `sql_client`, so the same checks run on DuckDB and
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import dlt
from dlt.common.schema.typing import TTableSchemaColumns

if TYPE_CHECKING:
    from dlt.destinations.sql_client import SqlClientBase

EXAMPLE_LIMIT = 5
LOADS_TABLE = "_dlt_loads"


@dataclass(frozen=True)
class Finding:
    """The outcome of one rule over one table."""

    failing_rows: int
    examples: list[Any] = field(default_factory=list)
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.failing_rows == 0


class Tables:
    """Quoted names for one dataset, and which tables exist there."""

    def __init__(self, client: SqlClientBase[Any], existing: set[str]) -> None:
        self.client = client
        self.existing = existing

    def table(self, name: str) -> str:
        return self.client.make_qualified_table_name(name)

    def col(self, name: str) -> str:
        return self.client.escape_column_name(name)

    def rows(self, sql: str) -> list[Sequence[Any]]:
        return list(self.client.execute_sql(sql) or [])

    def missing(self, name: str) -> Finding | None:
        if name in self.existing:
            return None
        return Finding(1, [], f"table {name} does not exist in the destination yet")


VISITOR_TEXT = "(visitor text)"
"""Shown instead of a value visitors wrote (a search query, a comment), which is never logged."""


def _plain(value: Any) -> Any:
    """A JSON-safe example value: timestamps and other objects become their text."""
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _example(row: Sequence[Any], columns: Sequence[str], hidden: Sequence[str]) -> list[Any]:
    """A row of `columns` as a JSON-safe example, with the `hidden` columns' values masked."""
    return [
        VISITOR_TEXT if name in hidden and value is not None else _plain(value)
        for name, value in zip(columns, row, strict=False)
    ]


def storage_columns(
    pipeline: dlt.Pipeline, tables: Sequence[str]
) -> dict[str, TTableSchemaColumns]:
    """Columns as the destination reports them, mapped back to dlt types; absent tables omitted."""
    with pipeline.destination_client() as client:
        found = client.get_storage_tables(list(tables))  # type: ignore[attr-defined]
        return {name: columns for name, columns in found if columns}


def primary_key_violations(
    db: Tables,
    table: str,
    key: Sequence[str],
    not_null: Sequence[str] | None = None,
    hidden: Sequence[str] = (),
) -> Finding:
    """Rows whose key repeats (GROUP BY treats nulls as equal) or has a null in `not_null`
    (by default every part of the key); `hidden` key columns are masked in the examples."""
    if missing := db.missing(table):
        return missing
    cols = ", ".join(db.col(k) for k in key)
    null_parts = [f"{db.col(k)} is null" for k in (key if not_null is None else not_null)]
    having = " or ".join(["count(*) > 1", *null_parts])
    rows = db.rows(
        f"select {cols}, count(*) from {db.table(table)} group by {cols} "
        f"having {having} order by count(*) desc"
    )
    failing = sum(int(row[-1]) for row in rows)
    return Finding(failing, [_example(row[:-1], key, hidden) for row in rows[:EXAMPLE_LIMIT]])


def orphans(db: Tables, table: str, column: str, parent: str) -> Finding:
    """Rows whose `column` names no `id` in `parent`."""
    if missing := db.missing(table) or db.missing(parent):
        return missing
    child_col = db.col(column)
    rows = db.rows(
        f"select c.{child_col} from {db.table(table)} c "
        f"left join {db.table(parent)} p on c.{child_col} = p.{db.col('id')} "
        f"where p.{db.col('id')} is null"
    )
    examples = sorted({_plain(row[0]) for row in rows}, key=str)[:EXAMPLE_LIMIT]
    return Finding(len(rows), examples)


def column_mismatches(declared: TTableSchemaColumns, actual: TTableSchemaColumns | None) -> Finding:
    """Declared columns that are absent or stored with another type."""
    if actual is None:
        return Finding(len(declared), sorted(declared), "table does not exist in the destination")
    problems = []
    for name, column in declared.items():
        if name not in actual:
            problems.append(f"{name}: missing")
        elif actual[name].get("data_type") != column.get("data_type"):
            problems.append(
                f"{name}: {actual[name].get('data_type')} (declared {column.get('data_type')})"
            )
    return Finding(len(problems), problems[:EXAMPLE_LIMIT])


def invalid_traffic(db: Tables, table: str, now: datetime) -> Finding:
    """Traffic points with a negative, fractional or null count, or a null or future timestamp."""
    if missing := db.missing(table):
        return missing
    count, ts = db.col("count"), db.col("timestamp")
    rows = db.rows(
        f"select {db.col('space_id')}, {ts}, {count} from {db.table(table)} "
        f"where {count} is null or {count} < 0 or {count} <> floor({count}) "
        f"or {ts} is null or {ts} > cast('{now.isoformat()}' as timestamp with time zone)"
    )
    return Finding(len(rows), [[_plain(v) for v in row] for row in rows[:EXAMPLE_LIMIT]])


def invalid_counts(
    db: Tables,
    table: str,
    counts: Sequence[str],
    key: Sequence[str],
    hidden: Sequence[str] = (),
) -> Finding:
    """Rows with a null, negative or fractional value in any of `counts`; examples are keys,
    with the `hidden` columns masked."""
    if missing := db.missing(table):
        return missing
    bad = " or ".join(
        f"{c} is null or {c} < 0 or {c} <> floor({c})" for c in (db.col(n) for n in counts)
    )
    rows = db.rows(f"select {', '.join(db.col(k) for k in key)} from {db.table(table)} where {bad}")
    return Finding(len(rows), [_example(row, key, hidden) for row in rows[:EXAMPLE_LIMIT]])


def row_count(db: Tables, table: str) -> int:
    if table not in db.existing:
        return 0
    return int(db.rows(f"select count(*) from {db.table(table)}")[0][0])


def last_load_time(db: Tables, table: str) -> datetime | None:
    """When the newest load that wrote rows to `table` finished, from dlt's `_dlt_loads`."""
    if table not in db.existing or LOADS_TABLE not in db.existing:
        return None
    rows = db.rows(
        f"select max(l.{db.col('inserted_at')}) from {db.table(LOADS_TABLE)} l "
        f"where l.{db.col('load_id')} = "
        f"(select max({db.col('_dlt_load_id')}) from {db.table(table)})"
    )
    return rows[0][0] if rows else None


def stale_load(table: str, loaded_at: datetime | None, now: datetime, window: timedelta) -> Finding:
    """Fails when the table's last successful load is older than `window`, or never happened.

    Judged by the load, not by the newest row: an account with no sites loads an empty `sites`
    table, and that table is as fresh as its load.
    """
    if loaded_at is None:
        return Finding(1, [], f"no successful sync has loaded {table} yet")
    age = now - loaded_at
    detail = f"last loaded {age} ago (window {window})"
    return Finding(int(age > window), [loaded_at.isoformat()], detail)


def stale_traffic(db: Tables, table: str, max_age: timedelta) -> Finding:
    """Fails when the newest traffic point is older than `max_age` at the time it was loaded.

    An empty table has nothing stale in it: today's API no longer serves space traffic, and a
    space without visits has no points.
    """
    if missing := db.missing(table):
        return missing
    if row_count(db, table) == 0:
        return Finding(0, [], f"{table} is empty: no traffic point to judge")
    loaded_at = last_load_time(db, table)
    if loaded_at is None:
        return Finding(1, [], f"no completed dlt load has written {table}")
    newest = db.rows(f"select max({db.col('timestamp')}) from {db.table(table)}")[0][0]
    if newest is None:
        return Finding(1, [], f"{table} has no timestamps")
    age = loaded_at - newest
    detail = f"newest point {newest.isoformat()} was {age} old when loaded (max {max_age})"
    return Finding(int(age > max_age), [newest.isoformat()], detail)


def open_version_repeats(db: Tables, table: str, key: Sequence[str], valid_to: str) -> Finding:
    """Keys with more than one open version (a version whose `valid_to` is null)."""
    if missing := db.missing(table):
        return missing
    cols = ", ".join(db.col(k) for k in key)
    rows = db.rows(
        f"select {cols}, count(*) from {db.table(table)} where {db.col(valid_to)} is null "
        f"group by {cols} having count(*) > 1"
    )
    return Finding(len(rows), [[_plain(v) for v in row[:-1]] for row in rows[:EXAMPLE_LIMIT]])


def overlapping_versions(
    db: Tables, table: str, key: Sequence[str], valid_from: str, valid_to: str
) -> Finding:
    """Versions that end before they start, or overlap a later version of the same key."""
    if missing := db.missing(table):
        return missing
    same = " and ".join(f"a.{db.col(k)} = b.{db.col(k)}" for k in key)
    start, end = db.col(valid_from), db.col(valid_to)
    rows = db.rows(
        f"select {', '.join(f'a.{db.col(k)}' for k in key)} from {db.table(table)} a "
        f"where a.{end} < a.{start} or exists (select 1 from {db.table(table)} b where {same} "
        f"and b.{start} > a.{start} and (a.{end} is null or a.{end} > b.{start}))"
    )
    return Finding(len(rows), [[_plain(v) for v in row] for row in rows[:EXAMPLE_LIMIT]])


def open_versions_differ(
    db: Tables, history: str, current: str, key: Sequence[str], valid_to: str
) -> Finding:
    """Keys open in the history but absent from the current table, or the other way round."""
    if missing := db.missing(history) or db.missing(current):
        return missing
    cols = ", ".join(db.col(k) for k in key)
    opened = f"select {cols} from {db.table(history)} where {db.col(valid_to)} is null"
    now = f"select {cols} from {db.table(current)}"
    rows = db.rows(f"({opened} except {now}) union all ({now} except {opened})")
    return Finding(len(rows), [[_plain(v) for v in row] for row in rows[:EXAMPLE_LIMIT]])
