"""What the token may read: one sync's record of refused parents, per resource.

A valid token is often refused some things: a personal token is a reader in a partner's
organization (GitBook says so in `permissions.listMembers: false` and answers 403 to its
members), and an OAuth token lacks a scope (403 on that scope's operations). The sync reads
everything else; this record says exactly what it could not read, for the run log, the
materialization metadata and a WARN check. With `strict`, any refusal fails the sync instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from analytics_assets.gitbook.errors import GitBookAccessError
from analytics_assets.gitbook.settings import CONTENT, REQUIRE_FULL_ACCESS_ENV, SITE_INSIGHTS_TABLES


def rows_after_refusal(resource: str) -> str:
    """What the warehouse holds of a refused parent once the sync loads: tables replaced whole
    lose its rows; `content` keeps a space's pages until the space is no longer listed
    (content.py); site insights replace only the days the run loads."""
    if resource == CONTENT.name:
        return f"'{resource}' keeps the rows it had of it"
    if resource in {spec.name for spec in SITE_INSIGHTS_TABLES}:
        tables = ", ".join(f"'{spec.name}'" for spec in SITE_INSIGHTS_TABLES)
        return f"the site insights tables ({tables}) hold no rows of it for the days this run loads"
    return f"'{resource}' holds no rows of it after this sync"


@dataclass(frozen=True)
class Coverage:
    """How many parents of a resource the sync asked about, and which it was refused."""

    resource: str
    parent: str
    asked: int
    refused: tuple[str, ...]

    def describe(self) -> str:
        read = self.asked - len(self.refused)
        refused = f"; refused: {', '.join(self.refused)}" if self.refused else ""
        return f"{self.resource} of {read} of {self.asked} {self.parent}{refused}"


class Access:
    """Thread-safe: the response hooks of dlt's extract workers record into one instance."""

    def __init__(self, *, strict: bool = False, warn: Callable[[str], None] = print) -> None:
        self.strict = strict
        self.warn = warn
        self._lock = threading.Lock()
        self._asked: dict[str, set[str]] = {}
        self._refused: dict[str, dict[str, str]] = {}
        self._parents: dict[str, str] = {}
        self._skipped: dict[str, set[str]] = {}
        self._kin: dict[str, str] = {}
        self._warned: set[tuple[str, str]] = set()

    def share(self, resources: Sequence[str]) -> None:
        """`resources` are read from one endpoint (the site insights tables): GitBook refuses
        them together, so one warning per parent speaks for all, and `refusal` answers for each
        once any was refused."""
        with self._lock:
            self._kin.update({resource: resources[0] for resource in resources})

    def refusal(self, resource: str, parent_id: str) -> str | None:
        """Why GitBook refused this parent `resource` or a resource sharing its endpoint."""
        with self._lock:
            kin = self._kin.get(resource, resource)
            for other, refused in self._refused.items():
                if self._kin.get(other, other) == kin and parent_id in refused:
                    return refused[parent_id]
            return None

    def asked(self, resource: str, parent: str, parent_id: str) -> None:
        """The sync asked for `resource` of this parent (or decided from its permissions)."""
        with self._lock:
            self._asked.setdefault(resource, set()).add(parent_id)
            self._parents[resource] = parent

    def refuse(self, resource: str, parent: str, parent_id: str, reason: str) -> None:
        """Record a refusal and warn once per parent; in strict mode, fail the sync."""
        self.asked(resource, parent, parent_id)
        with self._lock:
            self._refused.setdefault(resource, {})[parent_id] = reason
            warning = (self._kin.get(resource, resource), parent_id)
            first = warning not in self._warned
            self._warned.add(warning)
        if self.strict:
            raise GitBookAccessError(
                f"GitBook refused resource '{resource}' for {parent} '{parent_id}': {reason}. "
                f"{REQUIRE_FULL_ACCESS_ENV} is set, so a partial sync fails; nothing was loaded. "
                "Grant the token that access, or unset it to sync what the token may read.",
                resource=resource,
                parent_id=parent_id,
            )
        if first:
            self.warn(
                f"GitBook refused resource '{resource}' for {parent} '{parent_id}': {reason}. "
                f"Syncing everything else; {rows_after_refusal(resource)}. "
                f"Set {REQUIRE_FULL_ACCESS_ENV}=true to fail instead."
            )

    def skip(self, resource: str, parent: str, parent_id: str) -> None:
        """GitBook no longer found this parent (404 after it was listed): nothing was read."""
        self.asked(resource, parent, parent_id)
        with self._lock:
            self._skipped.setdefault(resource, set()).add(parent_id)

    def read(self, resource: str) -> tuple[set[str], set[str]] | None:
        """(parents asked, parents read completely) for `resource`; None if never asked per
        parent. The history tables retire rows only under parents read completely."""
        with self._lock:
            if resource not in self._asked:
                return None
            asked = set(self._asked[resource])
            unread = set(self._refused.get(resource, {})) | self._skipped.get(resource, set())
            return asked, asked - unread

    def coverage(self, resource: str) -> Coverage | None:
        """None when the sync never asked for `resource` per parent."""
        with self._lock:
            if resource not in self._asked:
                return None
            refused = tuple(sorted(self._refused.get(resource, {})))
            return Coverage(resource, self._parents[resource], len(self._asked[resource]), refused)
