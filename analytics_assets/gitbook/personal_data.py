"""A person's email, name and photo in GitBook's rows: kept, replaced by a keyed hash, or dropped.

The change is made to each row as it is extracted, before dlt sees it, so every place dlt puts
the data (the tables, the staging dataset, the load packages and state on disk) and every model
built on it only ever holds what the mode allows. A warehouse loaded under an earlier mode is
rewritten in place before the next load (`protect_stored`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from dlt.common.storages.load_package import PackageStorage
from dlt.destinations.exceptions import DatabaseUndefinedRelation

if TYPE_CHECKING:
    import dlt
    from dlt.common.destination.client import SqlClientBase

PII_ENV = "GITBOOK_PII"
PII_KEY_ENV = "GITBOOK_PII_KEY"
PII_CONFIG = "sources.gitbook.pii"
PII_KEY_SECRET = "sources.gitbook.pii_key"

# GitBook's `User` fields that identify a person (API 0.202.0): a name, an email, a photo.
USER_FIELDS = ("displayName", "email", "photoURL")
# Where a `User` sits in each resource's rows: the row itself, or the object under a key.
USER_PATHS: Mapping[str, str | None] = {"users": None, "org_members": "user"}
# The same, as stored: text columns of the table, or the keys inside its json column.
STORED_TEXT: Mapping[str, tuple[str, ...]] = {"users": ("display_name", "email", "photo_url")}
STORED_JSON: Mapping[str, str] = {"org_members": "user"}
STORED_KEYS: Mapping[str, tuple[str, ...]] = {
    "users": ("id",),
    "org_members": ("organization_id", "id"),
}
_DIGEST = re.compile(r"[0-9a-f]{64}")


class PiiMode(str, Enum):
    """What a sync stores of a person: as served, a keyed hash, or nothing."""

    KEEP = "keep"
    HASH = "hash"
    DROP = "drop"


@dataclass(frozen=True)
class PersonalData:
    """The mode and, for `hash`, its HMAC key (never printed: `repr` leaves it out)."""

    mode: PiiMode = PiiMode.KEEP
    key: bytes = field(default=b"", repr=False)

    def digest(self, value: Any) -> str:
        """HMAC-SHA256 of the value as text, in hex: the same value and key, the same digest."""
        return hmac.new(self.key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()

    def user(self, user: Mapping[str, Any], *, stored: bool = False) -> dict[str, Any]:
        """A `User` object as this mode stores it; `stored`: one read back from the warehouse,
        whose digests stay as they are."""
        protected = dict(user)
        for name in USER_FIELDS:
            if protected.get(name) is None or self.mode is PiiMode.KEEP:
                continue
            if self.mode is PiiMode.DROP:
                del protected[name]
            else:
                protected[name] = (
                    self._stored(protected[name]) if stored else self.digest(protected[name])
                )
        return protected

    def row_mapper(self, resource: str) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
        """A dlt `map` step for `resource`'s rows; None where it carries no person or the mode
        keeps them."""
        if self.mode is PiiMode.KEEP or resource not in USER_PATHS:
            return None
        path = USER_PATHS[resource]

        def protect(row: dict[str, Any]) -> dict[str, Any]:
            if path is None:
                return self.user(row)
            if isinstance(row.get(path), Mapping):
                return {**row, path: self.user(row[path])}
            return row

        return protect

    def emptied_columns(self) -> dict[str, set[str]]:
        """Per table, the text columns this mode leaves empty (`drop`), which are no sign that
        GitBook stopped serving a field."""
        if self.mode is not PiiMode.DROP:
            return {}
        return {table: set(columns) for table, columns in STORED_TEXT.items()}

    def _stored(self, value: Any) -> Any:
        """A stored value as this mode wants it (a digest already there stays)."""
        if value is None or self.mode is PiiMode.DROP:
            return None
        text = str(value)
        return text if _DIGEST.fullmatch(text) else self.digest(text)


def _rows(client: SqlClientBase[Any], sql: str) -> list[tuple[Any, ...]]:
    """The query's rows; none when the table does not exist yet."""
    with suppress(DatabaseUndefinedRelation), client.execute_query(sql) as cursor:
        return list(cursor.fetchall())
    return []


def _rewrites(
    client: SqlClientBase[Any], table: str, personal: PersonalData
) -> Iterator[tuple[dict[str, Any], tuple[Any, ...]]]:
    """For each stored row of `table` that holds more than the mode allows: the new values of
    its personal columns, and its key."""
    keys = STORED_KEYS[table]
    json_column = STORED_JSON.get(table)
    columns = (json_column,) if json_column else STORED_TEXT[table]
    names = ", ".join(client.escape_column_name(name) for name in (*keys, *columns))
    qualified = client.make_qualified_table_name(table)
    for row in _rows(client, f"select {names} from {qualified}"):
        key, values = row[: len(keys)], row[len(keys) :]
        if json_column is not None:
            stored = values[0]
            user = json.loads(stored) if isinstance(stored, str) else stored
            if not isinstance(user, Mapping):
                continue
            wanted = personal.user(user, stored=True)
            if wanted != user:
                yield {json_column: json.dumps(wanted)}, key
        else:
            wanted_values = {
                name: personal._stored(value) for name, value in zip(columns, values, strict=True)
            }
            if any(
                wanted_values[name] != value for name, value in zip(columns, values, strict=True)
            ):
                yield wanted_values, key


def protect_stored(pipeline: dlt.Pipeline, personal: PersonalData) -> dict[str, int]:
    """Rewrite what an earlier mode stored in plain, so no table holds a mix; returns the rows
    rewritten per table.

    Under `hash`, every stored name, email and photo URL that is not a digest yet becomes one;
    under `drop`, each becomes null (in json, the key goes). The staging dataset's copies of
    these tables are emptied, and the data files of loads already done are deleted from dlt's
    working folder. One transaction per table: a failure leaves the table as it was.
    """
    if personal.mode is PiiMode.KEEP:
        return {}
    rewritten: dict[str, int] = {}
    with pipeline.sql_client() as client:
        for table in USER_PATHS:
            updates = list(_rewrites(client, table, personal))
            if updates:
                keys = STORED_KEYS[table]
                qualified = client.make_qualified_table_name(table)
                where = " and ".join(f"{client.escape_column_name(k)} = %s" for k in keys)
                with client.begin_transaction():
                    for values, key in updates:
                        assignments = ", ".join(
                            f"{client.escape_column_name(name)} = %s" for name in values
                        )
                        client.execute_sql(
                            f"update {qualified} set {assignments} where {where}",
                            *values.values(),
                            *key,
                        )
            rewritten[table] = len(updates)
        with client.with_staging_dataset():
            for table in USER_PATHS:
                with suppress(DatabaseUndefinedRelation):
                    client.execute_sql(f"delete from {client.make_qualified_table_name(table)}")
    _delete_loaded_data_files(pipeline)
    return rewritten


def _delete_loaded_data_files(pipeline: dlt.Pipeline) -> None:
    """The data files dlt keeps of completed loads, which an earlier mode wrote in plain."""
    loaded = pipeline._get_load_storage().loaded_packages
    with suppress(FileNotFoundError):  # nothing loaded yet
        for load_id in loaded.list_packages():
            for jobs in (PackageStorage.COMPLETED_JOBS_FOLDER, PackageStorage.FAILED_JOBS_FOLDER):
                folder = loaded.get_job_state_folder_path(load_id, jobs)
                if loaded.storage.has_folder(folder):
                    loaded.storage.delete_folder(folder, recursively=True)
