"""Content by revision: fetch a space's pages only when its revision changed since they loaded.

Each space in GitBook's space list carries `revision`, the id of its active revision, and
`GET /v1/spaces/{id}/content` answers that revision. A sync compares the listed revision with
the one whose pages are in the warehouse and fetches only new and edited spaces.

What was loaded is read back from the destination, never from dlt's local folder, so it
survives a lost pipelines folder: each page row carries its `revision_id`, and the table
`content_revisions` holds one row per space whose content was loaded (its revision and how
many pages it had, so a space with no pages is remembered too).

`content` is merged with delete-insert, replacing exactly: the pages of every space fetched in
this run (an edited space's removed pages disappear, retitled pages change), and the pages of
every space no longer listed (deleted). Unchanged spaces, and spaces whose content GitBook
refused or no longer found (403/404 after listing), keep their rows. Which spaces those are is
data: every listed space sends one marker row through the load (`id` `#fetched` or `#listed`);
the merge's `destination_scope` selects by them and its `source_filter` keeps them out of the
table, so the rows and the scope commit in the same statement batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.schema.typing import TWriteDispositionConfig
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.extract.resource import DltResource
from dlt.sources.helpers.rest_client import RESTClient

from analytics_assets.gitbook.paginator import GitBookCursorPaginator
from analytics_assets.gitbook.path_segment import PathSegment
from analytics_assets.gitbook.rows import first_of_each_key, flatten_page_tree
from analytics_assets.gitbook.settings import CONTENT

CONTENT_PLAN_RESOURCE = "content_plan"
CONTENT_REVISIONS = "content_revisions"
# Marker page ids: GitBook page ids are alphanumeric, so `#` never starts a real one.
FETCHED = "#fetched"
LISTED = "#listed"

_IS_MARKER = f"id IN ('{FETCHED}', '{LISTED}')"


def _scope(state_column: str) -> str:
    """Destination rows a load replaces: spaces fetched now, and spaces no longer listed."""
    return (
        f"(space_id IN (SELECT space_id FROM {{staging_table}} WHERE {state_column} = '{FETCHED}')"
        f" OR space_id NOT IN (SELECT space_id FROM {{staging_table}}"
        f" WHERE {state_column} IN ('{FETCHED}', '{LISTED}')))"
    )


CONTENT_WRITE_DISPOSITION: TWriteDispositionConfig = {
    "disposition": "merge",
    "strategy": "delete-insert",
    "destination_scope": _scope("id"),
    "source_filter": f"NOT ({_IS_MARKER})",
}

REVISIONS_WRITE_DISPOSITION: TWriteDispositionConfig = {
    "disposition": "merge",
    "strategy": "delete-insert",
    "destination_scope": _scope("state"),
    "source_filter": f"state = '{FETCHED}'",
}


@dataclass
class ContentPlan:
    """Which spaces a run fetches, and what it did; thread-safe (extract workers share it).

    `loaded` maps space id to the revision whose pages are complete in the destination, or is
    a function that reads it, called once when the first space is listed (so the warehouse is
    not opened before GitBook has answered); `full` fetches every space whatever its revision.
    """

    loaded: Mapping[str, str] | Callable[[], Mapping[str, str]] = field(default_factory=dict)
    full: bool = False
    fetched: int = 0
    unchanged: int = 0
    unread: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wants(self, space: Mapping[str, Any]) -> bool:
        revision = space.get("revision")
        if self.full or revision is None:
            return True
        with self._lock:
            if callable(self.loaded):
                self.loaded = self.loaded()
            loaded = self.loaded
        return loaded.get(str(space["id"])) != revision

    def count(self, outcome: str) -> None:
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)

    def describe(self) -> str:
        mode = "full re-fetch" if self.full else "by revision"
        return (
            f"content ({mode}): fetched {self.fetched} spaces, skipped {self.unchanged} "
            f"unchanged, {self.unread} refused or gone"
        )


def loaded_revisions(pipeline: dlt.Pipeline) -> dict[str, str]:
    """Space id -> revision whose pages are completely loaded, read from the destination.

    A space counts only when `content_revisions` names its revision and `content` holds exactly
    that many rows, all of that revision: whichever table a failed load left behind, the space
    is fetched again rather than skipped with stale pages. Empty before the first load.
    """
    query = """
        select r.space_id, r.revision_id
        from {revisions} r
        left join (
            select space_id, count(*) as n, min(revision_id) as lo, max(revision_id) as hi
            from {content} group by space_id
        ) c on c.space_id = r.space_id
        where r.revision_id is not null
          and coalesce(c.n, 0) = r.page_count
          and (c.n is null or (c.lo = r.revision_id and c.hi = r.revision_id))
    """
    try:
        with pipeline.sql_client() as client:
            sql = query.format(
                revisions=client.make_qualified_table_name(CONTENT_REVISIONS),
                content=client.make_qualified_table_name(CONTENT.name),
            )
            return {str(space): str(rev) for space, rev in client.execute_sql(sql) or []}
    except DatabaseUndefinedRelation:
        return {}


def _revision_row(space_id: str, state: str, revision_id: Any = None, pages: int = 0) -> Any:
    row = {"space_id": space_id, "revision_id": revision_id, "page_count": pages, "state": state}
    # A table variant starts from `content`'s hints; empty columns drop its page columns.
    hints = dlt.mark.make_hints(
        table_name=CONTENT_REVISIONS,
        primary_key=["space_id"],
        columns={},
        write_disposition=REVISIONS_WRITE_DISPOSITION,
    )
    return dlt.mark.with_hints(row, hints, create_table_variant=True)


def content_resource(
    spaces: DltResource,
    client: RESTClient,
    guard: Callable[..., None],
    plan: ContentPlan,
    max_pages: int,
) -> list[DltResource]:
    """`content`, fed by the listed spaces through an unloaded planning step."""

    @dlt.transformer(name=CONTENT_PLAN_RESOURCE, selected=False)
    def content_plan(items: Any) -> Iterator[dict[str, Any]]:
        for space in items if isinstance(items, list) else [items]:
            yield {"id": space["id"], "fetch": plan.wants(space)}

    unique = first_of_each_key(CONTENT.primary_key)
    path = CONTENT.path

    def fetch(space_id: str) -> tuple[Any, list[dict[str, Any]]] | None:
        """The space's revision id and flattened pages; None when GitBook skipped it."""
        revision_id: Any = None
        rows: list[dict[str, Any]] = []
        answered = False
        for page in client.paginate(
            path.format(space_id=PathSegment(space_id)),
            paginator=GitBookCursorPaginator(CONTENT.name, max_pages=max_pages),
            data_selector=CONTENT.data_selector,
            hooks={"response": [guard]},
        ):
            answered = True
            if revision_id is None and page.response is not None:
                revision_id = page.response.json().get("id")
            for top in page:
                for row in flatten_page_tree({**top, "space_id": space_id}):
                    if unique(row):
                        rows.append(row)
        if not answered:
            return None
        for row in rows:
            row["revision_id"] = revision_id
        return revision_id, rows

    @dlt.transformer(
        name=CONTENT.name,
        parallelized=True,
        primary_key=list(CONTENT.primary_key),
        columns={**CONTENT.columns, "revision_id": {"data_type": "text"}},
        write_disposition=CONTENT_WRITE_DISPOSITION,
    )
    def content(task: dict[str, Any]) -> Iterator[Any]:
        space_id = str(task["id"])
        result = fetch(space_id) if task["fetch"] else None
        if result is None:
            plan.count("unchanged" if not task["fetch"] else "unread")
            yield {"space_id": space_id, "id": LISTED}
            yield _revision_row(space_id, LISTED)
            return
        revision_id, rows = result
        plan.count("fetched")
        yield [*rows, {"space_id": space_id, "id": FETCHED}]
        yield _revision_row(space_id, FETCHED, revision_id, len(rows))

    content_plan.pipe_data_from(spaces)
    content.pipe_data_from(content_plan)
    return [content_plan, content]


__all__ = [
    "CONTENT_REVISIONS",
    "ContentPlan",
    "content_resource",
    "loaded_revisions",
]
