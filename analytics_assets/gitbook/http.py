"""The HTTP policy: the design document's retry rules and errors that name what failed.

dlt's own defaults retry every 5xx and count attempts, not retries; this module configures dlt's
`Client` to retry exactly 429/500/502/503/504, three times, with exponential backoff factor 2,
honouring `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.requests.retry import DEFAULT_RETRY_EXCEPTIONS
from requests import Response, Session

from analytics_assets.gitbook.errors import GitBookAPIError, GitBookAuthError
from analytics_assets.gitbook.settings import (
    BACKOFF_FACTOR,
    MAX_RETRIES,
    MAX_RETRY_DELAY_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    RETRY_STATUSES,
)

TOKEN_HINT = (
    "Set a valid token in GITBOOK_ACCESS_TOKEN, or `access_token` under [sources.gitbook] in "
    ".dlt/secrets.toml (see .dlt/secrets.toml.example)."
)
BODY_EXCERPT_CHARS = 200


def build_session(
    *,
    max_retries: int = MAX_RETRIES,
    backoff_factor: float = BACKOFF_FACTOR,
    max_retry_delay: float = MAX_RETRY_DELAY_SECONDS,
    request_timeout: float = REQUEST_TIMEOUT_SECONDS,
) -> Session:
    """A requests session with the spec's retry policy (status errors are raised by our hooks)."""
    client = Client(
        request_timeout=request_timeout,
        raise_for_status=False,
        status_codes=RETRY_STATUSES,
        exceptions=DEFAULT_RETRY_EXCEPTIONS,
        request_max_attempts=max_retries + 1,
        request_backoff_factor=backoff_factor,
        request_max_retry_delay=max_retry_delay,
        respect_retry_after_header=True,
    )
    return client.session


def _body_excerpt(response: Response) -> str:
    text = " ".join(response.text.split())
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + "…"
    return text


def error_for_response(response: Response, *, resource: str, attempts: int) -> GitBookAPIError:
    """Translate an error response into an exception a person can act on."""
    status = response.status_code
    method = response.request.method if response.request is not None else "GET"
    path = urlsplit(response.url).path
    where = f"resource '{resource}' at {method} {path}"
    if status in (401, 403):
        return GitBookAuthError(
            f"GitBook rejected the access token (HTTP {status}) for {where}. {TOKEN_HINT}",
            resource=resource,
            path=path,
            status=status,
            response=response,
        )
    if status in RETRY_STATUSES:
        message = (
            f"GitBook answered HTTP {status} for {where} on all {attempts} attempts "
            f"(retried on {', '.join(map(str, RETRY_STATUSES))} with backoff). GitBook may be "
            "degraded or rate-limiting this token: re-run later, or lower the sync's concurrency."
        )
    else:
        message = (
            f"GitBook answered HTTP {status} for {where}: {_body_excerpt(response)!r}. "
            "This status is not retried; check the ids and the token's access to them."
        )
    return GitBookAPIError(message, resource=resource, path=path, status=status, response=response)


def raise_for_status_hook(resource: str, *, attempts: int) -> Callable[..., None]:
    """A `response_actions` hook that fails with a named error instead of dlt's generic one."""

    def hook(response: Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code >= 400:
            raise error_for_response(response, resource=resource, attempts=attempts)

    return hook
