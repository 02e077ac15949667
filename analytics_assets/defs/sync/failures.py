"""Turn dlt's nested pipeline exceptions into the one message a person needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dlt.extract.exceptions import PipeException

if TYPE_CHECKING:
    from analytics_assets.gitbook.errors import GitBookError


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes/contexts (dlt wraps an extraction error twice)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        yield current
        seen.add(id(current))
        current = current.__cause__ or current.__context__


def find_gitbook_error(exc: BaseException) -> GitBookError | None:
    from analytics_assets.gitbook.errors import GitBookError

    return next((e for e in _chain(exc) if isinstance(e, GitBookError)), None)


def explain_failure(exc: BaseException, *, attempts: int) -> str | None:
    """A message naming resource, path and next step, or None when there is nothing to add."""
    if (gitbook_error := find_gitbook_error(exc)) is not None:
        return str(gitbook_error)
    from requests.exceptions import ChunkedEncodingError, ConnectionError, RequestException, Timeout

    chain = list(_chain(exc))
    # What dlt's client retries besides status codes: refused, reset, cut short, too slow.
    transport_errors = (ConnectionError, ChunkedEncodingError, Timeout)
    transport = next((e for e in chain if isinstance(e, transport_errors)), None)
    if transport is None:
        return None
    resource = next((e.pipe_name for e in chain if isinstance(e, PipeException)), None)
    where = f"resource '{resource}'" if resource else "a GitBook resource"
    request = transport.request if isinstance(transport, RequestException) else None
    if request is not None and request.url:
        parts = urlsplit(request.url)
        where += f" at {request.method or 'GET'} {parts.path} on {parts.scheme}://{parts.netloc}"
    if isinstance(transport, Timeout):
        problem = "timed out"
        hint = "raise request_timeout (GitBookResource or [sources.gitbook]) or re-run later"
    else:
        problem = "could not connect, or the connection dropped mid-response"
        hint = "check GITBOOK_BASE_URL and the network, or re-run later"
    return (
        f"GitBook {problem} for {where} on all {attempts} attempts "
        f"({type(transport).__name__}). Next: {hint}."
    )


@contextmanager
def explained_failures(attempts: int) -> Iterator[None]:
    """Re-raise a sync's failure as a Dagster `Failure` carrying `explain_failure`'s message.

    A GitBook error already says everything, so its traceback chain is dropped; anything else
    keeps its cause. Errors with nothing to add propagate unchanged.
    """
    try:
        yield
    except Exception as exc:
        explanation = explain_failure(exc, attempts=attempts)
        if explanation is None:
            raise
        from dagster import Failure

        from analytics_assets.gitbook.errors import GitBookError

        cause = None if isinstance(exc, GitBookError) else exc
        raise Failure(description=explanation) from cause
