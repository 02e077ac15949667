"""Schema drift: what changed in the columns GitBook serves, load to load, and a frozen contract.

dlt never drops a column and never changes one's type: a new field becomes a column, a value of
another type lands in a variant column (`count__v_text`), and a field GitBook stopped serving
leaves its column null. Dagster's `build_column_schema_change_checks` compares the
`dagster/column_schema` that dagster-dlt fills from that same ever-growing schema (as do dlt's
stored schema versions): it would report a retype as an added `__v_` column and never a removed
field. So a load's *profile* records the table's columns as dlt created them, with their
types and how many rows hold a value in each; two profiles give the fields added, retyped and
removed.

Under `freeze`, dlt's own contract refuses a new column or a variant column before anything
loads, and `FieldWatch` refuses a field most rows of the previous load had and no row of this
extract has.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from dlt.common.schema.typing import TSchemaContract

from analytics_assets.gitbook.errors import GitBookError

if TYPE_CHECKING:
    from dlt.common.destination.client import SqlClientBase
    from dlt.common.schema import Schema
    from dlt.common.schema.typing import TTableSchemaColumns

CONTRACT_ENV = "GITBOOK_SCHEMA_CONTRACT"
CONTRACT_CONFIG = "sources.gitbook.schema_contract"
# A column is removed when it held a value in at least this share of the previous load's rows,
# and in two rows or more, and holds none now: rare data that a deletion can take away (an icon, a
# cover, the one user's photo) is no removed field.
REMOVED_IF_FILLED_SHARE = 0.5
REMOVED_IF_FILLED_ROWS = 2
# dlt names the column that takes values of another type `<column>__v_<type>`.
VARIANT = re.compile(r"(?P<base>.+)__v_(?P<type>[a-z0-9_]+)")
EVOLVE_HINT = (
    f"Review the change, then run one sync with {CONTRACT_ENV}=evolve to accept it (the "
    "table's `schema_unchanged_since_previous_load` check then names it)."
)


class ContractMode(str, Enum):
    """`evolve` loads whatever GitBook serves; `freeze` loads nothing while its shape differs."""

    EVOLVE = "evolve"
    FREEZE = "freeze"

    @property
    def dlt_contract(self) -> TSchemaContract:
        """New tables may always appear (a first sync creates every one)."""
        mode = self.value
        return {"tables": "evolve", "columns": mode, "data_type": mode}  # type: ignore[typeddict-item]


class SchemaDriftError(GitBookError):
    """GitBook's rows differ from the warehouse's columns and the contract is frozen."""

    def __init__(self, table: str, column: str, change: str):
        super().__init__(
            f"GitBook changed the shape of '{table}': {change}. {CONTRACT_ENV}=freeze loads "
            f"nothing while GitBook's rows differ from the warehouse, so this run loaded "
            f"nothing. {EVOLVE_HINT}"
        )
        self.table = table
        self.column = column


def loaded_columns(schema: Schema, table: str) -> TTableSchemaColumns:
    """The table's columns that dlt has created in the destination (those with a type)."""
    if table not in schema.tables:
        return {}
    return schema.get_table_columns(table)


def column_profile(
    client: SqlClientBase[Any],
    table: str,
    stored: TTableSchemaColumns | None,
    load_ids: Sequence[str] | None,
) -> dict[str, Any]:
    """The table's columns (`stored`, from `loaded_columns`) and types, and how many rows hold
    a value in each: in the whole table, or in the rows of `load_ids` (a partitioned
    table, whose other partitions a load leaves alone)."""
    columns = {
        name: str(column.get("data_type"))
        for name, column in (stored or {}).items()
        if not name.startswith("_dlt")
    }
    if not columns or (load_ids is not None and not load_ids):
        return {"columns": columns, "filled": {}, "rows": 0}
    names = list(columns)
    counts = "".join(f", count({client.escape_column_name(name)})" for name in names)
    sql = f"select count(*){counts} from {client.make_qualified_table_name(table)}"
    if load_ids is not None:
        sql += f" where _dlt_load_id in ({', '.join(['%s'] * len(load_ids))})"
    with client.execute_query(sql, *(load_ids or ())) as cursor:
        rows, *filled = cursor.fetchone()
    return {
        "columns": columns,
        "filled": {name: int(count) for name, count in zip(names, filled, strict=True) if count},
        "rows": int(rows),
    }


@dataclass(frozen=True)
class SchemaChanges:
    """Fields added (name: type), removed, and retyped (name: (old type, variant column))."""

    added: Mapping[str, str] = field(default_factory=dict)
    removed: Sequence[str] = ()
    retyped: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.retyped)

    def items(self) -> list[str]:
        """One line per change, naming the column."""
        return [
            *(f"added: {name} ({kind})" for name, kind in self.added.items()),
            *(f"removed: {name} (no value in this load)" for name in self.removed),
            *(
                f"retyped: {name} ({old} -> values now in {variant})"
                for name, (old, variant) in self.retyped.items()
            ),
        ]


def usual_columns(profile: Mapping[str, Any]) -> set[str]:
    """The columns that held a value in most rows (`REMOVED_IF_FILLED_*`)."""
    least = max(REMOVED_IF_FILLED_ROWS, REMOVED_IF_FILLED_SHARE * (profile.get("rows") or 0))
    filled: Mapping[str, int] = profile["filled"]
    return {name for name, count in filled.items() if count >= least}


def schema_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], *, removals: bool = True
) -> SchemaChanges:
    """What changed from profile `before` to profile `after`.

    Added: a column new to the table that is not a variant. Retyped: a variant column holding
    values it did not hold before. Removed (`removals`): a column that held a value in most rows
    (`usual_columns`) and now holds none, in a load that has rows; not the base column of a
    retyped field, nor one `after` leaves empty by configuration (`ignored`). A previous load
    without rows is no baseline: an empty table has only the declared columns.
    """
    if not before.get("rows"):
        return SchemaChanges()
    columns, old_columns = after["columns"], before["columns"]
    filled, old_filled = set(after["filled"]), set(before["filled"])
    variants = {name: VARIANT.fullmatch(name) for name in columns}
    added = {
        name: kind
        for name, kind in columns.items()
        if name not in old_columns and not variants[name]
    }
    retyped: dict[str, tuple[str, str]] = {}
    for name, match in variants.items():
        if match and name in filled and name not in old_filled:
            base = match["base"]
            retyped[base] = (str(columns.get(base, old_columns.get(base, "?"))), name)
    removed: list[str] = []
    if removals and after.get("rows"):
        removed = sorted(
            name
            for name in usual_columns(before) - filled - set(after.get("ignored", ()))
            if name in columns and not variants.get(name) and name not in retyped
        )
    return SchemaChanges(added, removed, retyped)


@dataclass
class FieldWatch:
    """Under `freeze`: which columns each table's extracted rows fill, to refuse a field the
    previous load filled and this extract fills in no row (dlt's contract sees only additions).

    Only top-level fields are watched: a nested object's flattened columns come and go with
    the object."""

    normalize: Callable[[str], str]
    expected: Mapping[str, Iterable[str]]
    """Per table, the previous load's `usual_columns` (the tables compared)."""
    partial: Callable[[], set[str]] = set
    """Tables this extract read only part of (content fetched by revision): not compared."""
    _seen: dict[str, set[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def mapper(self, table: str) -> Callable[[Any], Any]:
        def watch(row: Any) -> Any:
            if isinstance(row, Mapping):
                names = {self.normalize(k) for k, v in row.items() if v is not None}
                with self._lock:
                    self._seen.setdefault(table, set()).update(names)
            return row

        return watch

    def check(self) -> None:
        """Raise for the first expected column no extracted row filled, in a table with rows."""
        with self._lock:
            seen = {table: set(names) for table, names in self._seen.items()}
        partial = self.partial()
        for table, expected in self.expected.items():
            if table not in seen or table in partial:
                continue
            for column in sorted(set(expected) - seen[table]):
                if "__" not in column:
                    raise SchemaDriftError(
                        table, column, f"the field behind column '{column}' is in no row"
                    )


def explain_contract_violation(exc: BaseException) -> SchemaDriftError | None:
    """dlt's `DataValidationError` (or ours) in the chain, as a message naming the change."""
    from dlt.common.schema.exceptions import DataValidationError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, SchemaDriftError):
            return current
        if isinstance(current, DataValidationError):
            table, column = current.table_name, current.column_name
            match = VARIANT.fullmatch(column or "")
            if current.schema_entity == "data_type" and match:
                change = (
                    f"field '{match['base']}' now has values of type {match['type']} (dlt "
                    f"would load them into a new column '{column}')"
                )
                return SchemaDriftError(table, match["base"], change)
            if current.schema_entity == "data_type":
                return SchemaDriftError(table, column, f"column '{column}' changed type")
            return SchemaDriftError(table, column, f"a new field, column '{column}'")
        current = current.__cause__ or current.__context__
    return None
