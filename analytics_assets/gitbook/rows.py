"""Row mappers for what the `rest_api` configuration cannot express."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dlt.sources.rest_api.config_setup import make_parent_key_name


def unwrap_data_envelope(item: dict[str, Any]) -> dict[str, Any]:
    """`/v1/user` returns a bare user; the design document expected `{"data": user}`: take both."""
    inner = item.get("data")
    if isinstance(inner, dict) and "id" in inner and "id" not in item:
        return inner
    return item


def rename_parent_key(parent: str, column: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """dlt names an included parent id `_<parent>_id`; give it the documented column name.

    Must run before the row reaches the normalizer, because the column is part of the
    primary key.
    """
    included = make_parent_key_name(parent, "id")

    def rename(item: dict[str, Any]) -> dict[str, Any]:
        if included in item:
            item[column] = item.pop(included)
        return item

    return rename


def space_organization_id(item: dict[str, Any]) -> dict[str, Any]:
    """A space fetched by id carries its owner in `organization`; expose it as `organization_id`."""
    if "organization_id" not in item and item.get("organization") is not None:
        item["organization_id"] = item["organization"]
    return item


def flatten_page_tree(page: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield a page and all its descendants as rows.

    Each row keeps the space id, gains `parent_page_id`, and its `pages` becomes the list of
    its direct children's ids, so every page is addressable by (space_id, id).
    """
    stack: list[tuple[dict[str, Any], Any]] = [(page, None)]
    space_id = page.get("space_id")
    while stack:
        node, parent_id = stack.pop()
        children = node.get("pages") or []
        row = {**node, "parent_page_id": parent_id, "pages": [c.get("id") for c in children]}
        if space_id is not None:
            row["space_id"] = space_id
        yield row
        stack.extend((child, node.get("id")) for child in reversed(children))


def first_of_each_key(key: Sequence[str]) -> Callable[[dict[str, Any]], bool]:
    """Filter step: keep the first row of each primary key in this run, drop repeats.

    Tables are replaced by each sync, and a replace does not deduplicate. GitBook's cursor
    pages can repeat a row when a list shifts while it is being paged through; the table keeps
    one. Thread-safe: dlt's extract workers run a parallelized resource's steps concurrently.
    Keys are kept as 16-byte digests: a run can see hundreds of thousands of them.
    """
    seen: set[bytes] = set()
    lock = threading.Lock()

    def first(row: dict[str, Any]) -> bool:
        parts = "\x1f".join(str(row.get(column)) for column in key)
        value = hashlib.blake2b(parts.encode(), digest_size=16).digest()
        with lock:
            if value in seen:
                return False
            seen.add(value)
            return True

    return first
