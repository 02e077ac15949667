"""Edits between two syncs, beyond deletions (`Dataset.without`): what an incremental sync and
the history tables must notice. Each returns a new dataset; the one given is unchanged.

- `retitled`: a page gets a new title; its space gets a new `revision`, as a GitBook edit would.
- `edited_spaces`: spaces' content changes (a new `revision` each) without touching pages.
- `with_space_fields`: a space's listed fields change (e.g. `visibility`), its revision kept.
- `with_member` / `with_member_fields`: a member joins an organization, or changes role.
- `with_site_fields`: a site's fields change (e.g. `visibility`, `published`).
- `drifted`: GitBook's shape changes without notice: a field added, retyped or removed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from analytics_assets.devtools.fake_api.dataset import Dataset, PageTree, make_member

Row = dict[str, Any]


def _new_revision(space: Row, tag: str) -> Row:
    return {**space, "revision": f"{space.get('revision')}-{tag}"}


def _replace_spaces(dataset: Dataset, changed: dict[str, Row]) -> Dataset:
    unknown = set(changed) - {s["id"] for s in dataset.spaces}
    if unknown:
        raise ValueError(f"unknown spaces: {sorted(unknown)!r}")
    spaces_by_org = {
        org: [changed.get(s["id"], s) for s in spaces]
        for org, spaces in dataset.spaces_by_org.items()
    }
    return dataclasses.replace(dataset, spaces_by_org=spaces_by_org)


def edited_spaces(dataset: Dataset, space_ids: Iterable[str], tag: str = "edit") -> Dataset:
    """These spaces answer a new revision id (their pages unchanged)."""
    return _replace_spaces(
        dataset, {sid: _new_revision(dataset.space(sid), tag) for sid in space_ids}
    )


def _retitle(pages: Sequence[Row], page_id: str, title: str) -> tuple[list[Row], bool]:
    found = False
    out = []
    for page in pages:
        if page["id"] == page_id:
            page, found = {**page, "title": title}, True
        elif page.get("pages"):
            children, hit = _retitle(page["pages"], page_id, title)
            if hit:
                page, found = {**page, "pages": children}, True
        out.append(page)
    return out, found


def retitled(dataset: Dataset, space_id: str, page_id: str, title: str) -> Dataset:
    """The page (at any depth) renamed; the space gets a new revision."""
    pages, found = _retitle(dataset.pages_of(space_id), page_id, title)
    if not found:
        raise ValueError(f"unknown page {page_id!r} in space {space_id!r}")
    trees = {**dataset.pages_by_space, space_id: PageTree.of(pages)}
    edited = _replace_spaces(
        dataset, {space_id: _new_revision(dataset.space(space_id), f"title-{page_id}")}
    )
    return dataclasses.replace(edited, pages_by_space=trees)


def with_space_fields(dataset: Dataset, space_id: str, **fields: Any) -> Dataset:
    """The space as listed with these fields changed (camelCase, as GitBook names them)."""
    return _replace_spaces(dataset, {space_id: {**dataset.space(space_id), **fields}})


def with_member(dataset: Dataset, org_id: str, user: Row, role: str | None) -> Dataset:
    """`user` (a User object) joins the organization with `role`."""
    member = make_member(user, role, datetime(2025, 1, 1, tzinfo=timezone.utc))
    members = {**dataset.members_by_org}
    members[org_id] = [*dataset.members_of(org_id), member]
    return dataclasses.replace(dataset, members_by_org=members)


def with_member_fields(dataset: Dataset, org_id: str, member_id: str, **fields: Any) -> Dataset:
    """The membership with these fields changed, e.g. `role="admin"`."""
    rows = list(dataset.members_of(org_id))
    if not any(m["id"] == member_id for m in rows):
        raise ValueError(f"unknown member {member_id!r} of {org_id!r}")
    members = {**dataset.members_by_org}
    members[org_id] = [{**m, **fields} if m["id"] == member_id else m for m in rows]
    return dataclasses.replace(dataset, members_by_org=members)


def with_site_fields(dataset: Dataset, site_id: str, **fields: Any) -> Dataset:
    """The site as listed with these fields changed."""
    if not dataset.has_site(site_id):
        raise ValueError(f"unknown site {site_id!r}")
    sites_by_org = {
        org: [{**s, **fields} if s["id"] == site_id else s for s in sites]
        for org, sites in dataset.sites_by_org.items()
    }
    return dataclasses.replace(dataset, sites_by_org=sites_by_org)


class Drift(str, Enum):
    """Shape changes modelled on GitBook's own between API 0.91.0 and 0.202.0."""

    EXTRA = "extra"
    """Every space carries `language`, a field 0.202.0 added to `Space`."""
    RETYPED = "retyped"
    """Every member's `spaces` count is served as text ("3 spaces")."""
    MISSING = "missing"
    """No page carries `documentId`, which 0.202.0 removed from page documents; every space
    gets a new revision, so a sync fetches every space's content."""


def _without_document_id(pages: Sequence[Row]) -> list[Row]:
    return [
        {
            **{k: v for k, v in page.items() if k != "documentId"},
            "pages": _without_document_id(page.get("pages") or []),
        }
        for page in pages
    ]


def drifted(dataset: Dataset, *kinds: Drift) -> Dataset:
    """The dataset as GitBook would serve it after these unannounced changes."""
    if Drift.EXTRA in kinds:
        dataset = _replace_spaces(
            dataset, {s["id"]: {**s, "language": "en"} for s in dataset.spaces}
        )
    if Drift.RETYPED in kinds:
        members = {
            org: [{**m, "spaces": f"{m.get('spaces') or 0} spaces"} for m in rows]
            for org, rows in dataset.members_by_org.items()
        }
        dataset = dataclasses.replace(dataset, members_by_org=members)
    if Drift.MISSING in kinds:
        trees = {
            space_id: PageTree.of(_without_document_id(dataset.pages_of(space_id)))
            for space_id in dataset.pages_by_space
        }
        dataset = _replace_spaces(
            dataset, {s["id"]: _new_revision(s, "no-document-id") for s in dataset.spaces}
        )
        dataset = dataclasses.replace(dataset, pages_by_space=trees)
    return dataset
