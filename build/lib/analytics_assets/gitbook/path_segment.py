"""URL-encoding of ids that dlt's rest_api interpolates into paths.

dlt fills `{space_id}` with `str.format`, unescaped, so an id containing "/", "?", "#", "%" or a
space, or an id that is "." or "..", would address another URL. Ids are wrapped in
`PathSegment`, a `str` that still loads as the plain id but formats as its percent-encoded form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


class PathSegment(str):
    """A string that encodes itself (every reserved character) when formatted into a path."""

    __slots__ = ()

    def __format__(self, format_spec: str) -> str:
        value = str.__str__(self)
        if value in (".", ".."):  # HTTP clients resolve dot-segments away: /orgs/../spaces
            return value.replace(".", "%2E")
        return quote(value, safe="")


def encode_id(item: dict[str, Any]) -> dict[str, Any]:
    """Map step for parent resources: make `id` safe to place in a child's path."""
    if isinstance(item.get("id"), str):
        item["id"] = PathSegment(item["id"])
    return item
