"""Turn dlt's nested pipeline exceptions into the one message a person needs."""

from __future__ import annotations

from analytics_assets.gitbook.errors import GitBookError


def find_gitbook_error(exc: BaseException) -> GitBookError | None:
    """The first GitBookError in the exception's cause/context chain (dlt wraps it twice)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, GitBookError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
