"""The HTTP policy: the design document's retry rules and errors that name what failed.

dlt's own defaults retry every 5xx and count attempts, not retries; this module configures dlt's
`Client` to retry exactly 429/500/502/503/504, three times, with exponential backoff factor 2,
honouring `Retry-After`. A 429 that says when GitBook's window resets never reaches that retry:
the transport waits for the window and sends again (`rate_limit.py`).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from dlt.sources.helpers.requests import Client
from dlt.sources.helpers.requests.retry import DEFAULT_RETRY_EXCEPTIONS
from dlt.sources.helpers.rest_client.exceptions import IgnoreResponseException
from requests import PreparedRequest, RequestException, Response, Session

from analytics_assets.gitbook.access import Access
from analytics_assets.gitbook.errors import GitBookAPIError, GitBookAuthError, GitBookConfigError
from analytics_assets.gitbook.rate_limit import RateLimitedAdapter, RateLimitPacer
from analytics_assets.gitbook.removed_endpoint import RemovedEndpoint
from analytics_assets.gitbook.settings import (
    BACKOFF_FACTOR,
    MAX_CONCURRENCY,
    MAX_RATE_LIMIT_WAIT_SECONDS,
    MAX_RETRIES,
    MAX_RETRY_DELAY_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    RETRY_STATUSES,
    TOKEN_HINT,
    ResourceSpec,
)

BODY_EXCERPT_CHARS = 200
logger = logging.getLogger(__name__)


def build_session(
    *,
    max_retries: int = MAX_RETRIES,
    backoff_factor: float = BACKOFF_FACTOR,
    max_retry_delay: float = MAX_RETRY_DELAY_SECONDS,
    request_timeout: float = REQUEST_TIMEOUT_SECONDS,
    max_concurrency: int = MAX_CONCURRENCY,
    max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT_SECONDS,
    warn: Callable[[str], None] = logger.warning,
    removed: Sequence[RemovedEndpoint] = (),
) -> Session:
    """A requests session with the spec's retry policy, GitBook's rate limiter respected, and a
    cap on requests in flight.

    Status errors are raised by `response_guard`. The session is shared by dlt's extract
    workers; the cap holds however many workers dlt runs. Every request is paced by one
    `RateLimitPacer` (see `rate_limit.py`), which tells `warn` when and how long it waits.
    Requests to a `removed` endpoint known to be gone are answered locally.
    """
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
    session = client.session
    pacer = RateLimitPacer(max_wait=max_rate_limit_wait, log=warn)
    adapter = RateLimitedAdapter(
        pacer,
        removed=removed,
        pool_maxsize=max(max_concurrency, 10),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.send = _capped(  # type: ignore[method-assign]
        _naming_the_request(session.send), threading.BoundedSemaphore(max_concurrency)
    )
    return session


def _capped(
    send: Callable[..., Response], slots: threading.BoundedSemaphore
) -> Callable[..., Response]:
    """At most `max_concurrency` requests (with their retries and backoff) at once."""

    def capped_send(request: PreparedRequest, **kwargs: Any) -> Response:
        with slots:
            return send(request, **kwargs)

    return capped_send


def _naming_the_request(send: Callable[..., Response]) -> Callable[..., Response]:
    """Attach the request to transport errors that lack it (a body cut short carries none), so
    the final error can name the path."""

    def send_naming_request(request: PreparedRequest, **kwargs: Any) -> Response:
        try:
            return send(request, **kwargs)
        except RequestException as exc:
            if exc.request is None:
                exc.request = request
            raise

    return send_naming_request


def _body_excerpt(response: Response) -> str:
    text = " ".join(response.text.split())
    if len(text) > BODY_EXCERPT_CHARS:
        text = text[:BODY_EXCERPT_CHARS] + "…"
    return text


def error_for_response(
    response: Response, *, resource: str, attempts: int, scope: str | None = None
) -> GitBookAPIError:
    """Translate an error response into an exception a person can act on."""
    status = response.status_code
    method, path = _describe(response)
    where = f"resource '{resource}' at {method} {path}"
    if status == 401:
        return GitBookAuthError(
            f"GitBook rejected the access token (HTTP {status}) for {where}. {TOKEN_HINT}",
            resource=resource,
            path=path,
            status=status,
            response=response,
        )
    if status == 403:
        needs = f"the OAuth scope '{scope}'" if scope else "a scope"
        return GitBookAuthError(
            f"GitBook refused {where} (HTTP 403): the token is valid, but it may lack {needs} "
            f"(or its user the role) to read it, and without {resource} the sync can read "
            f"nothing useful. Grant the token {needs}, or use a token of a member of your "
            f"organizations. GitBook said: {_body_excerpt(response)!r}",
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


def _describe(response: Response) -> tuple[str, str]:
    method = response.request.method if response.request is not None else "GET"
    return method or "GET", urlsplit(response.url).path


def response_guard(
    resource: str,
    *,
    data_selector: str,
    attempts: int,
    skip_not_found: bool = False,
    warn: Callable[[str], None] = logger.warning,
    on_page: Callable[[str], None] | None = None,
    removed_hint: str | None = None,
    spec: ResourceSpec | None = None,
    access: Access | None = None,
    removed: RemovedEndpoint | None = None,
) -> Callable[..., None]:
    """A `response_actions` hook that every GitBook response passes through.

    - Error statuses become named errors (dlt's retry policy still sees their status).
    - A 404 for a child of a listed parent means the parent was deleted after it was listed:
      with `skip_not_found`, that parent is skipped with a warning and the sync goes on.
    - A 200 must be JSON and must hold `data_selector`, so a proxy's HTML page or a changed
      shape fails loudly instead of loading zero rows. It is parsed once here; dlt's paginator
      and extractor reuse the parsed body.
    - `on_page(resource)` is told of every page that passed, for progress reporting.
    - With `removed_hint` (an endpoint gone from GitBook's current API), 404 and 410 skip the
      request; the first one per run logs the hint as a warning. With `removed` (which the
      session's adapter also holds), the warning says when the endpoint is confirmed gone and
      is no longer asked in this run.
    - With `spec` and `access`, each child request is recorded against its parent, and a 403
      for a child (the token may not read this organization's members, this site's insights)
      skips that parent through `access`, which warns, or fails the sync in strict mode. A 403
      for a resource without a parent in its path fails at once: the token reads nothing useful.
    """
    removed_seen = threading.Lock()  # held forever once the first removed-endpoint answer came

    def hook(response: Response, *args: Any, **kwargs: Any) -> None:
        if response.is_redirect:  # requests follows it and calls the hook again on the target
            return
        method, path = _describe(response)
        parent_id = spec.parent_id_in(path) if spec is not None else None
        if access is not None and spec is not None and spec.parent and parent_id is not None:
            access.asked(resource, spec.parent, parent_id)
            if response.status_code == 403:
                needs = f"the OAuth scope '{spec.scope}'" if spec.scope else "a scope"
                access.refuse(
                    resource,
                    spec.parent,
                    parent_id,
                    f"HTTP 403 at {method} {path} ({_body_excerpt(response)!r}); the token may "
                    f"lack {needs}, or its user the role, to read it",
                )
                raise IgnoreResponseException()
        if removed_hint is not None and response.status_code in (404, 410):
            gone = removed is not None and removed.gone
            if removed_seen.acquire(blocking=False):
                then = (
                    "It is not asked again in this run: its parent exists, so the endpoint "
                    "is gone for this account"
                    if gone
                    else f"Skipping '{resource}' wherever it answers 404 or 410 in this run (a "
                    "space deleted after it was listed answers the same)"
                )
                warn(
                    f"GitBook answered HTTP {response.status_code} for resource '{resource}' "
                    f"at {method} {path}: {removed_hint}. {then}; the sync goes on."
                )
            raise IgnoreResponseException()
        if response.status_code == 404 and skip_not_found:
            if access is not None and spec is not None and spec.parent and parent_id is not None:
                access.skip(resource, spec.parent, parent_id)
            warn(
                f"GitBook answered HTTP 404 for resource '{resource}' at {method} {path}; its "
                "parent was probably deleted after it was listed. Skipping it; the sync goes on."
            )
            raise IgnoreResponseException()
        if response.status_code >= 400:
            scope = spec.scope if spec is not None else None
            raise error_for_response(response, resource=resource, attempts=attempts, scope=scope)
        try:
            payload = response.json()
        except ValueError:
            raise _bad_body(
                response,
                resource,
                f"is not valid JSON (Content-Type {response.headers.get('Content-Type')!r})",
            ) from None
        if data_selector != "$" and (not isinstance(payload, dict) or data_selector not in payload):
            keys = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
            raise _bad_body(response, resource, f"has no {data_selector!r} key (found {keys})")
        response.json = lambda *a, **k: payload  # type: ignore[method-assign]
        if on_page is not None:
            on_page(resource)

    return hook


def _bad_body(response: Response, resource: str, problem: str) -> GitBookAPIError:
    method, path = _describe(response)
    return GitBookAPIError(
        f"GitBook's HTTP {response.status_code} response for resource '{resource}' at "
        f"{method} {path} {problem}: {_body_excerpt(response)!r}. Not retried: check "
        "GITBOOK_BASE_URL points at the API (not a proxy or login page), or whether GitBook "
        "changed this endpoint.",
        resource=resource,
        path=path,
        status=response.status_code,
        response=response,
    )


def require_safe_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """Refuse to send the bearer token over plain HTTP, except to this machine.

    The bundled API listens on loopback over HTTP; anything else must be HTTPS unless the
    user opts out explicitly.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GitBookConfigError(
            f"GITBOOK_BASE_URL must be an http(s) URL such as https://api.gitbook.com, "
            f"got {base_url!r}."
        )
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise GitBookConfigError(
            f"Refusing to send the GitBook token over plain HTTP to {parts.hostname}. Use "
            "https://, or set GITBOOK_ALLOW_INSECURE_HTTP=true if this host is trusted (for "
            "example a proxy inside your network)."
        )
    return base_url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def child_guard(
    spec: ResourceSpec,
    *,
    attempts: int,
    warn: Callable[[str], None] = logger.warning,
    on_page: Callable[[str], None] | None = None,
    access: Access | None = None,
) -> Callable[..., None]:
    """`response_guard` for a resource fetched per listed parent outside `rest_api` (content,
    site insights): a parent deleted after it was listed (404) is skipped with a warning."""
    return response_guard(
        spec.name,
        data_selector=spec.data_selector,
        attempts=attempts,
        skip_not_found=True,
        warn=warn,
        on_page=on_page,
        spec=spec,
        access=access,
    )
