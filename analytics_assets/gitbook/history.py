"""History of memberships, spaces and sites: one row per version, with the interval it held.

The current tables mirror GitBook and forget; each history table keeps every version of a few
tracked columns of one current table, as dlt's `scd2` merge: a changed row closes its open
version (`valid_to`) and opens a new one (`valid_from`), both at the sync's `as_of` time; a row
GitBook no longer serves closes its open version.

Rows come from the current table right after the same step loaded it, so a history never sees
anything the mirror did not. What may be closed is scoped (`destination_scope`) to what the run
actually saw: keys it loaded, the organizations whose list it read completely, and organizations
no longer listed. An organization refused (403) or gone mid-run (404), a table not selected in a
subset run, or a failed run, closes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dlt
from dlt.common.schema.typing import TColumnSchema, TWriteDispositionConfig
from dlt.extract.resource import DltResource

from analytics_assets.gitbook.merge_scope import sql_literals
from analytics_assets.gitbook.settings import (
    ORG_MEMBERS,
    SITES,
    SPACES,
    ResourceSpec,
)

VALID_FROM, VALID_TO = "valid_from", "valid_to"
HISTORY_SOURCE = "gitbook_history"


@dataclass(frozen=True)
class History:
    """One history table: which current table it follows, by which key, tracking what."""

    current: ResourceSpec
    tracked: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.current.name}_history"

    @property
    def key(self) -> tuple[str, ...]:
        return self.current.primary_key

    @property
    def columns(self) -> dict[str, TColumnSchema]:
        tracked = {name: dict(self.current.columns[name]) for name in (*self.key, *self.tracked)}
        stamps = {
            VALID_FROM: {"data_type": "timestamp", "nullable": True},
            VALID_TO: {"data_type": "timestamp", "nullable": True},
        }
        return {**tracked, **stamps}  # type: ignore[dict-item]

    @property
    def spec(self) -> ResourceSpec:
        """The table as the Dagster layer sees it: an asset downstream of its current table."""
        return ResourceSpec(
            name=self.name,
            path=f"(history of {self.current.name})",
            data_selector="$",
            primary_key=(*self.key, VALID_FROM),
            description=(
                f"Every version of {', '.join(self.tracked)} of each {self.current.name} row, "
                f"valid from `{VALID_FROM}` until `{VALID_TO}` (null: still current); closed "
                "only by syncs that read the row's organization completely."
            ),
            columns=self.columns,
            parent=self.current.name,
        )


# Volatile fields (`last_seen_at`, counters, `updated_at`) are left out: each change would be a
# version, and the questions asked of history are about roles, visibility and existence.
MEMBERS_HISTORY = History(ORG_MEMBERS, ("role", "disabled", "sso", "joined_at"))
SPACES_HISTORY = History(SPACES, ("organization_id", "title", "visibility"))
SITES_HISTORY = History(SITES, ("organization_id", "title", "hostname", "visibility", "published"))
HISTORIES: tuple[History, ...] = (MEMBERS_HISTORY, SPACES_HISTORY, SITES_HISTORY)
HISTORIES_BY_NAME = {history.name: history for history in HISTORIES}


def closable_scope(history: History, read: tuple[set[str], set[str]] | None) -> str:
    """SQL (dlt's `destination_scope`) for the open versions this load may close.

    `read` is (organizations asked, organizations read completely) for the current table in
    this run, None when it was not listed per organization (spaces by configured id). Keys the
    load carries are always in scope, so a changed row never leaves two open versions.
    """
    keys = ", ".join(history.key)
    scope = [f"({keys}) IN (SELECT {keys} FROM {{staging_table}})"]
    if read is not None:
        asked, complete = read
        if complete:
            scope.append(f"organization_id IN ({sql_literals(list(complete))})")
        scope.append(f"organization_id NOT IN ({sql_literals(list(asked))})" if asked else "1 = 1")
    # Parenthesized: dlt joins the scope to its own conditions with a bare AND.
    return "(" + " OR ".join(scope) + ")"


def history_resource(
    history: History,
    rows: Iterator[dict[str, Any]] | None,
    read: tuple[set[str], set[str]] | None,
    as_of: datetime,
) -> DltResource:
    """The scd2 resource for `history`; `rows` None: the run did not load its current table,
    so nothing is written or closed."""
    write_disposition: TWriteDispositionConfig = {
        "disposition": "merge",
        "strategy": "scd2",
        "validity_column_names": [VALID_FROM, VALID_TO],
        "boundary_timestamp": as_of,
        "destination_scope": closable_scope(history, read) if rows is not None else "1 = 0",
    }
    columns = {k: v for k, v in history.columns.items() if k not in (VALID_FROM, VALID_TO)}

    @dlt.resource(name=history.name, columns=columns, write_disposition=write_disposition)
    def versions() -> Iterator[Any]:
        yield dlt.mark.materialize_table_schema()
        if rows is not None:
            yield from rows

    return versions


def current_rows(pipeline: dlt.Pipeline, history: History) -> Iterator[dict[str, Any]]:
    """The tracked columns of the current table, as just loaded."""
    names = [*history.key, *history.tracked]
    with pipeline.sql_client() as client:
        cols = ", ".join(client.escape_column_name(name) for name in names)
        table = client.make_qualified_table_name(history.current.name)
        with client.execute_query(f"select {cols} from {table}") as cursor:
            while batch := cursor.fetchmany(1000):
                for row in batch:
                    yield dict(zip(names, row, strict=True))


def history_source(
    pipeline: dlt.Pipeline,
    histories: Sequence[History],
    loaded: set[str],
    reads: Mapping[str, tuple[set[str], set[str]] | None],
    as_of: datetime,
) -> list[DltResource]:
    """Resources for `histories`; `loaded` names the current tables this run loaded."""
    resources = []
    for history in histories:
        rows = None
        if history.current.name in loaded:
            rows = iter(list(current_rows(pipeline, history)))
        resources.append(history_resource(history, rows, reads.get(history.current.name), as_of))
    return resources
