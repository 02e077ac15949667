"""A local HTTP server that answers like GitBook's REST API, for tests, the demo and benchmarks.

It is a real socket server (not a mocked ``requests``), so clients exercise their actual HTTP
stack: URL encoding of path segments, keep-alive, retries on 429/5xx, cursor pagination.
Standard library only, so it runs anywhere the project runs; the one exception, validating
site-insights query bodies, imports ``jsonschema`` when that route is first called.

Like today's GitBook it honours ``limit`` up to :data:`MAX_LIMIT`, sends ``X-RateLimit-*``
headers on every response (enforcing a :class:`RateLimit` when given one) and, under
:data:`TODAY_API`, no longer serves space traffic; :data:`LEGACY_TRAFFIC_API` still does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import re
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, unquote

from analytics_assets.devtools.fake_api import site_insights
from analytics_assets.devtools.fake_api.dataset import Dataset, Row
from analytics_assets.devtools.fake_api.rate_limit import (
    UNENFORCED_RATE_LIMIT,
    FixedWindowLimiter,
    Quota,
    RateLimit,
)

USER = "/v1/user"
ORGS = "/v1/orgs"
ORG_SPACES = "/v1/orgs/{organizationId}/spaces"
ORG_MEMBERS = "/v1/orgs/{organizationId}/members"
SPACE = "/v1/spaces/{spaceId}"
SPACE_CONTENT = "/v1/spaces/{spaceId}/content"
SPACE_TRAFFIC = "/v1/spaces/{spaceId}/insights/traffic"
ORG_SITES = "/v1/orgs/{organizationId}/sites"
SITE_INSIGHTS_AGGREGATE = "/v1/orgs/{organizationId}/sites/{siteId}/insights/events/aggregate"
ROUTES = (
    USER,
    ORGS,
    ORG_SPACES,
    ORG_MEMBERS,
    SPACE,
    SPACE_CONTENT,
    SPACE_TRAFFIC,
    ORG_SITES,
    SITE_INSIGHTS_AGGREGATE,
)
METHODS = {SITE_INSIGHTS_AGGREGATE: "POST"}
"""The method each route answers; GET unless listed (any other method is a 405)."""
REQUIRED_SCOPES: dict[str, str] = {
    USER: "user:read",
    ORGS: "organization:read",
    ORG_SPACES: "space:read",
    ORG_MEMBERS: "organization:members:read",
    SPACE: "space:read",
    SPACE_CONTENT: "space:read",
    ORG_SITES: "site:read",
    SITE_INSIGHTS_AGGREGATE: "site:insights:read",
}
"""The OAuth scope each route needs, from the ``oauth`` entry of its operation's ``security`` in
GitBook's 0.202.0 description. Space traffic (0.91.0 only) names no OAuth scope, so needs none."""
READER_ORG_PERMISSIONS: dict[str, bool] = {
    "view": True,
    "access": True,
    "admin": False,
    "ownTeam": False,
    "createContent": False,
    "createOpenAPISpec": False,
    "viewBilling": False,
    "listMembers": False,
    "listTeams": False,
    "listIntegrations": False,
    "listInstallations": False,
    "installIntegration": False,
}
"""``Organization.permissions`` as a reader sees them: it can see the org, and do nothing else."""
READER_MEMBERS_MESSAGE = "You do not have permission to list the members of this organization"
MISSING_SCOPE_MESSAGE = "The token is missing the scope {scope}"

ApiVersion = Literal["0.202.0", "0.91.0"]
TODAY_API: ApiVersion = "0.202.0"
"""Today's GitBook API: no ``/spaces/{spaceId}/insights/traffic``."""
LEGACY_TRAFFIC_API: ApiVersion = "0.91.0"
"""The last described API with ``/spaces/{spaceId}/insights/traffic``."""
API_VERSIONS: tuple[ApiVersion, ...] = get_args(ApiVersion)
UNSERVED_ROUTES: dict[ApiVersion, frozenset[str]] = {
    TODAY_API: frozenset({SPACE_TRAFFIC}),
    LEGACY_TRAFFIC_API: frozenset(),
}
"""Routes each API version answers with 404, as if the path matched nothing."""

MAX_LIMIT = 1000
"""Largest ``limit`` GitBook accepts (``listLimit``: a number from 0 to 1000)."""
_INTEGER = re.compile(r"-?[0-9]+")

JSON = "application/json"


class ApiError(Exception):
    """Raised inside a route handler to answer with GitBook's error shape."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; the Authorization header is deliberately not kept."""

    method: str
    path: str
    """Route path with each segment percent-decoded (``/v1/spaces/sp+ace x/1/content``)."""
    raw_path: str
    """Path exactly as sent, before decoding (``/v1/spaces/sp%2Bace%20x%2F1/content``)."""
    query: dict[str, str]
    status: int
    had_valid_token: bool
    time: float
    """``time.monotonic()`` when the request arrived."""
    sent_authorization: bool = False
    """Whether any Authorization header arrived (valid or not)."""
    route: str | None = None
    """The matched route pattern, e.g. ``/v1/orgs/{organizationId}/spaces``, even one this API
    version does not serve (it answered 404)."""
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    """The request body parsed as JSON; None when there was none or it was not JSON."""


@dataclass(frozen=True)
class Fault:
    """Make the next ``times`` matching requests fail with ``status``, then serve normally.

    ``route`` is a route pattern (``/v1/orgs/{organizationId}/members``) or ``"*"`` for every
    request; ``match_path`` narrows it to one exact decoded path, and ``match_body`` to requests
    whose parsed JSON body (None when absent or not JSON) it returns true for; a predicate that
    raises does not match, so ``lambda b: b["range"]["from"].startswith("2026-11-29")`` is safe
    on any body. Only matching requests use up ``times``. ``times=None`` fails forever.
    ``body`` replaces the JSON error body: a dict/list is sent as JSON, str/bytes verbatim.
    ``status=None`` keeps the normal response and applies only the other effects: ``delay``
    (seconds slept before answering), ``headers`` (e.g. a ``Location`` for a redirect) and
    ``transport``: ``"reset"`` closes the connection without answering, ``"truncate"`` sends the
    headers and half the body, then closes. An injected ``status`` answers before the rate
    limiter: the request is not counted, and the answer carries the window's current
    ``X-RateLimit-*`` headers (``headers`` may override them).
    """

    route: str = "*"
    status: int | None = 503
    times: int | None = 1
    retry_after: float | str | None = None
    body: Any = None
    match_path: str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    transport: Literal["reset", "truncate"] | None = None
    match_body: Callable[[Any], bool] | None = None

    def matches_body(self, body: Any) -> bool:
        """Whether ``body`` (parsed JSON) passes ``match_body``; any body does without one."""
        if self.match_body is None:
            return True
        try:
            return bool(self.match_body(body))
        except Exception:  # a predicate written for another body shape: not this request
            return False


def _shape(pattern: str) -> str:
    """The pattern without placeholder names: ``{org}`` and ``{organizationId}`` compare equal."""
    return "/".join(
        "{}" if p.startswith("{") and p.endswith("}") else p for p in pattern.split("/")
    )


def match_route(segments: Sequence[str]) -> tuple[str, dict[str, str]] | None:
    """Match decoded path segments (``["", "v1", "orgs", ...]``) against :data:`ROUTES`."""
    for pattern in ROUTES:
        parts = pattern.split("/")
        if len(parts) != len(segments):
            continue
        params: dict[str, str] = {}
        for part, seg in zip(parts, segments, strict=True):
            if part.startswith("{") and part.endswith("}"):
                if not seg:
                    break
                params[part[1:-1]] = seg
            elif part != seg:
                break
        else:
            return pattern, params
    return None


# --- cursors ---------------------------------------------------------------------------------


def _path_tag(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:8]


def encode_cursor(offset: int, path: str) -> str:
    """Opaque cursor: urlsafe base64 of ``{"o": offset, "p": tag-of-path}``, unpadded."""
    raw = json.dumps({"o": offset, "p": _path_tag(path)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, path: str) -> int:
    """Offset carried by ``cursor``; :class:`ApiError` 400 unless we issued it for ``path``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        offset = data["o"]
        tag = data["p"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise ApiError(400, "Invalid page cursor") from None
    if (
        not isinstance(offset, int)
        or isinstance(offset, bool)
        or offset < 0
        or tag != _path_tag(path)
    ):
        raise ApiError(400, "Invalid page cursor")
    return offset


def parse_limit(text: str) -> int:
    """The page size a ``limit`` query value asks for; :class:`ApiError` 400 unless 0-1000.

    GitBook's ``listLimit`` is "the number of results per page", from 0 to 1000. The fake takes
    0 literally: the page holds no items, and it has no ``next`` (a page of size 0 can never
    advance, so a cursor to "the next one" would be the same page forever). ``count`` still says
    how many there are.
    """
    if len(text) > 8 or not _INTEGER.fullmatch(text) or not 0 <= int(text) <= MAX_LIMIT:
        raise ApiError(
            400, f"Invalid limit {text!r}: limit must be an integer from 0 to {MAX_LIMIT}"
        )
    return int(text)


# --- the server ------------------------------------------------------------------------------


@dataclass
class _Request:
    method: str
    raw_path: str
    path: str
    query: dict[str, str]
    route: str | None
    params: dict[str, str]
    token_ok: bool
    dataset: Dataset
    """The dataset when the request arrived: one request never sees two datasets."""
    body: bytes = b""
    reader_orgs: frozenset[str] = frozenset()
    """Like ``dataset``, the reader orgs when the request arrived."""
    missing_scopes: frozenset[str] = frozenset()


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    transport: Literal["reset", "truncate"] | None = None


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _error(status: int, message: str) -> _Response:
    return _Response(status, _json_bytes({"error": {"code": status, "message": message}}))


def _string_set(values: frozenset[str], name: str) -> frozenset[str]:
    """``values`` as a frozenset of strings; a bare string would silently become its letters."""
    if isinstance(values, str | bytes):
        raise TypeError(f"{name} must be a set of strings, not a single string")
    result = frozenset(values)
    if not all(isinstance(value, str) and value for value in result):
        raise TypeError(f"{name} must hold non-empty strings")
    return result


def _parse_json(raw: bytes) -> Any:
    """``raw`` as JSON, or None if empty or not JSON (for the request log only)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None


class FakeGitBookAPI:
    """GitBook's REST API (the endpoints analytics_assets syncs) served from a :class:`Dataset`.

    Use as a context manager, or call :meth:`start` / :meth:`stop`. Clients talk to
    ``base_url + "/v1/..."`` with ``Authorization: Bearer <token>``. ``clock`` gives "now"
    (an aware datetime) for site-insights range presets such as ``last7Days``.

    ``default_page_size`` is the page size when a request sends no ``limit`` (GitBook does not
    document its own; clients should not rely on it). ``rate_limit`` enforces a limit; without
    one the ``X-RateLimit-*`` headers advertise :data:`UNENFORCED_RATE_LIMIT`. ``api_version``
    picks the profile: :data:`TODAY_API` answers 404 for space traffic, :data:`LEGACY_TRAFFIC_API`
    serves it.

    Limited tokens answer 403 like GitBook: ``reader_orgs`` are organizations where the token's
    user is only a reader (reader ``permissions``, and listing members is refused);
    ``missing_scopes`` are OAuth scopes the token was not granted (every route needing one, per
    :data:`REQUIRED_SCOPES`, is refused).
    """

    def __init__(
        self,
        dataset: Dataset | None = None,
        token: str = "test-token",
        default_page_size: int = 5,
        latency: float = 0.0,
        user_envelope: bool = False,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        clock: Callable[[], datetime] | None = None,
        rate_limit: RateLimit | None = None,
        api_version: ApiVersion = TODAY_API,
        reader_orgs: frozenset[str] = frozenset(),
        missing_scopes: frozenset[str] = frozenset(),
    ) -> None:
        self.dataset = dataset if dataset is not None else Dataset.demo()
        self.reader_orgs = reader_orgs
        self.missing_scopes = missing_scopes
        self._token = token
        self.default_page_size = default_page_size
        self.rate_limit = rate_limit
        self.api_version = api_version
        self.latency = latency
        self.user_envelope = user_envelope
        self.host = host
        self.port = port
        self.verbose = verbose
        self.clock = clock if clock is not None else lambda: datetime.now(timezone.utc)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self.max_in_flight = 0
        """The most requests this server was answering at once (reset by clear_requests)."""
        self._throttled = 0
        self._faults: list[tuple[Fault, list[int | None]]] = []
        self._repeats: list[tuple[str, str | None]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._handlers: dict[str, Callable[[_Request], Any]] = {
            USER: self._user,
            ORGS: self._orgs,
            ORG_SPACES: self._org_spaces,
            ORG_MEMBERS: self._org_members,
            SPACE: self._space,
            SPACE_CONTENT: self._space_content,
            SPACE_TRAFFIC: self._space_traffic,
            ORG_SITES: self._org_sites,
            SITE_INSIGHTS_AGGREGATE: self._site_insights_aggregate,
        }

    def __repr__(self) -> str:  # never show the token
        state = self.base_url if self._server else "stopped"
        return f"<FakeGitBookAPI {state}>"

    # -- settings (each settable while serving)

    @property
    def dataset(self) -> Dataset:
        """What the API serves; replace it while serving to model changes between syncs.

        Each request reads it once when it arrives, so a request answers wholly from the old or
        wholly from the new dataset. Cursors are offsets: one issued before the swap still pages
        through the new lists (a 400 if the list is now shorter than its offset).
        """
        return self._dataset

    @dataset.setter
    def dataset(self, dataset: Dataset) -> None:
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a Dataset, not {type(dataset).__name__}")
        self._dataset = dataset

    @property
    def default_page_size(self) -> int:
        """Items per page when the request sends no ``limit`` (1 to :data:`MAX_LIMIT`)."""
        return self._default_page_size

    @default_page_size.setter
    def default_page_size(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_LIMIT:
            raise ValueError(f"default_page_size must be an integer from 1 to {MAX_LIMIT}")
        self._default_page_size = size

    @property
    def rate_limit(self) -> RateLimit | None:
        """The enforced limit, or None (headers then advertise :data:`UNENFORCED_RATE_LIMIT`).

        Setting it starts afresh: the next request opens a new window.
        """
        return self._rate_limit

    @rate_limit.setter
    def rate_limit(self, limit: RateLimit | None) -> None:
        if limit is not None and not isinstance(limit, RateLimit):
            raise TypeError(f"rate_limit must be a RateLimit or None, not {type(limit).__name__}")
        self._rate_limit = limit
        self._limiter = FixedWindowLimiter(
            limit or UNENFORCED_RATE_LIMIT, enforce=limit is not None
        )

    @property
    def api_version(self) -> ApiVersion:
        """Which GitBook API this server behaves like (:data:`API_VERSIONS`)."""
        return self._api_version

    @api_version.setter
    def api_version(self, version: ApiVersion) -> None:
        if version not in API_VERSIONS:
            raise ValueError(f"api_version must be one of {API_VERSIONS}, not {version!r}")
        self._api_version = version

    @property
    def reader_orgs(self) -> frozenset[str]:
        """Organization ids where the token's user is only a reader; settable while serving.

        Their ``permissions`` are :data:`READER_ORG_PERMISSIONS` and their members are a 403;
        everything else in them (spaces, sites, content, insights) is served as usual.
        """
        return self._reader_orgs

    @reader_orgs.setter
    def reader_orgs(self, org_ids: frozenset[str]) -> None:
        self._reader_orgs = _string_set(org_ids, "reader_orgs")

    @property
    def missing_scopes(self) -> frozenset[str]:
        """OAuth scopes the token lacks; settable while serving.

        A route whose :data:`REQUIRED_SCOPES` scope is among them answers 403 after
        authentication and the rate limiter (injected faults still come first).
        """
        return self._missing_scopes

    @missing_scopes.setter
    def missing_scopes(self, scopes: frozenset[str]) -> None:
        self._missing_scopes = _string_set(scopes, "missing_scopes")

    def expected_row_counts(self) -> dict[str, int]:
        """The dataset's row counts as this API version serves them (traffic only on 0.91.0)."""
        return self.dataset.expected_row_counts(traffic=self.api_version == LEGACY_TRAFFIC_API)

    # -- lifecycle

    @property
    def latency(self) -> float:
        """Seconds slept before answering every request; settable while serving."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self._latency = float(seconds)

    @property
    def base_url(self) -> str:
        """``http://host:port`` without ``/v1``; clients add the ``/v1/...`` paths."""
        if self._server is None:
            raise RuntimeError("FakeGitBookAPI is not running; call start() or use `with`")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGitBookAPI:
        """Bind (a free port unless ``port`` was given) and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeGitBookAPI is already running")
        server = _Server((self.host, self.port), self)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-gitbook-api:{server.server_address[1]}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop accepting, close the listening socket and any kept-alive client connections."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeGitBookAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- inspection and fault injection

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request served so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, route_or_path: str) -> list[RecordedRequest]:
        """Recorded requests whose decoded path equals, or whose route matches, the argument."""
        shape = _shape(route_or_path)
        return [
            r
            for r in self.requests
            if r.path == route_or_path or (r.route is not None and _shape(r.route) == shape)
        ]

    @property
    def throttled(self) -> int:
        """How many 429s the rate limiter sent (injected faults not included).

        Reset by :meth:`clear_requests`; the 429s are also in :attr:`requests` (status 429).
        """
        with self._lock:
            return self._throttled

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self.max_in_flight = self._in_flight
            self._throttled = 0

    def add_fault(self, fault: Fault) -> None:
        """Queue a fault; faults are checked in the order added, before authentication."""
        if fault.times is not None and fault.times < 1:
            raise ValueError("Fault.times must be >= 1 (or None for forever)")
        with self._lock:
            self._faults.append((fault, [fault.times]))

    def repeat_cursor(self, route: str, match_path: str | None = None) -> None:
        """From now on, answer ``route`` with the same ``next.page`` cursor forever."""
        with self._lock:
            self._repeats.append((_shape(route), match_path))

    def clear_faults(self) -> None:
        """Drop pending faults and repeated cursors."""
        with self._lock:
            self._faults.clear()
            self._repeats.clear()

    # -- request handling (called from handler threads)

    def _answer(
        self, method: str, target: str, authorization: str | None, body: bytes = b""
    ) -> _Response:
        """Answer one request (called from handler threads) and record it."""
        arrived = time.monotonic()
        raw_path, _, raw_query = target.partition("?")
        segments = [unquote(segment) for segment in raw_path.split("/")]
        matched = match_route(segments)
        route, params = matched if matched else (None, {})
        request = _Request(
            method=method,
            raw_path=raw_path,
            path="/".join(segments),
            query=dict(parse_qsl(raw_query, keep_blank_values=True)),
            route=route,
            params=params,
            token_ok=self._token_ok(authorization),
            dataset=self.dataset,
            body=body,
            reader_orgs=self.reader_orgs,
            missing_scopes=self.missing_scopes,
        )
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self._latency:
                time.sleep(self._latency)
            response = self._respond(request)
        finally:
            with self._lock:
                self._in_flight -= 1
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    method=method,
                    path=request.path,
                    raw_path=raw_path,
                    query=request.query,
                    status=response.status,
                    had_valid_token=request.token_ok,
                    sent_authorization=authorization is not None,
                    time=arrived,
                    route=route,
                    params=params,
                    body=_parse_json(body),
                )
            )
        if self.verbose:
            print(f"fake-gitbook-api: {method} {raw_path} -> {response.status}", file=sys.stderr)
        return response

    def _token_ok(self, authorization: str | None) -> bool:
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return False
        return hmac.compare_digest(credentials.strip().encode(), self._token.encode())

    def _take_fault(self, request: _Request) -> Fault | None:
        with self._lock:
            predicates = [fault for fault, _ in self._faults if fault.match_body is not None]
        # Predicates are test code: run them outside the lock, then take `times` under it.
        body = _parse_json(request.body) if predicates else None
        body_matched = {id(fault) for fault in predicates if fault.matches_body(body)}
        with self._lock:
            for fault, remaining in self._faults:
                if remaining[0] == 0:
                    continue
                if fault.match_body is not None and id(fault) not in body_matched:
                    continue
                if fault.route != "*" and not (
                    fault.route == request.path
                    or (request.route is not None and _shape(fault.route) == _shape(request.route))
                ):
                    continue
                if fault.match_path is not None and fault.match_path != request.path:
                    continue
                if remaining[0] is not None:
                    remaining[0] -= 1
                return fault
        return None

    def _respond(self, request: _Request) -> _Response:
        """Faults first, then the limiter, then serve.

        An injected status stands for something in front of GitBook (a proxy, a failing
        gateway): it skips the limiter and carries only the headers its `Fault` names, so a 429
        without timing can be told from GitBook's own.
        """
        fault = self._take_fault(request)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            response = self._fault_response(fault)
        else:
            quota = self._limiter.take()
            response = self._serve(request) if quota.allowed else self._throttle(quota)
            response.headers = {**quota.headers(), **response.headers}
        if fault is not None:
            response.headers.update(fault.headers)
            response.transport = fault.transport
        return response

    def _throttle(self, quota: Quota) -> _Response:
        """GitBook's 429: the ``X-RateLimit-*`` headers (added by the caller), no Retry-After."""
        with self._lock:
            self._throttled += 1
        seconds = quota.retry_in
        return _error(429, f"API rate limit exceeded. Please try again in {seconds} seconds")

    def _serve(self, request: _Request) -> _Response:
        if not request.token_ok:
            return _error(401, "You must be authenticated with a valid API token")
        route = request.route
        if route in UNSERVED_ROUTES[self.api_version]:
            route = None  # answered exactly like a path that matches no route
        allowed = METHODS.get(route, "GET") if route else "GET"
        if request.method != allowed:
            response = _error(405, f"Method {request.method} is not allowed here")
            response.headers["Allow"] = allowed
            return response
        if route is None:
            return _error(404, "No route matches this path")
        scope = REQUIRED_SCOPES.get(route)
        if scope is not None and scope in request.missing_scopes:
            return _error(403, MISSING_SCOPE_MESSAGE.format(scope=scope))
        try:
            return _Response(200, _json_bytes(self._handlers[route](request)))
        except ApiError as exc:
            return _error(exc.status, exc.message)
        except Exception:  # a bug in the fake itself: answer, and say so loudly
            traceback.print_exc()
            return _error(500, "Internal error in the fake GitBook API")

    @staticmethod
    def _fault_response(fault: Fault) -> _Response:
        assert fault.status is not None
        if fault.body is None:
            response = _error(fault.status, f"Injected fault (HTTP {fault.status})")
        elif isinstance(fault.body, bytes | str):
            body = fault.body.encode() if isinstance(fault.body, str) else fault.body
            response = _Response(fault.status, body, "text/plain; charset=utf-8")
        else:
            response = _Response(fault.status, _json_bytes(fault.body))
        if fault.content_type:
            response.content_type = fault.content_type
        if fault.retry_after is not None:
            response.headers["Retry-After"] = str(fault.retry_after)
        return response

    # -- pagination

    def _repeating(self, request: _Request) -> bool:
        assert request.route is not None
        shape = _shape(request.route)
        with self._lock:
            return any(s == shape and (p is None or p == request.path) for s, p in self._repeats)

    def _page(self, request: _Request, rows: Sequence[Row]) -> tuple[list[Row], str | None]:
        """The slice of ``rows`` this request asks for, and the cursor of the next slice."""
        size = self.default_page_size
        if "limit" in request.query:
            size = parse_limit(request.query["limit"])
        offset = 0
        if "page" in request.query:
            offset = decode_cursor(request.query["page"], request.path)
            if offset > len(rows):
                raise ApiError(400, "Invalid page cursor")
        items = list(rows[offset : offset + size])
        if self._repeating(request):
            return items, encode_cursor(0, request.path)
        end = offset + len(items)
        more = size > 0 and end < len(rows)  # a page of size 0 never advances: no next
        return items, encode_cursor(end, request.path) if more else None

    def _list(self, request: _Request, rows: Sequence[Row]) -> Row:
        items, cursor = self._page(request, rows)
        body: Row = {"items": items, "count": len(rows)}
        if cursor is not None:
            body["next"] = {"page": cursor}
        return body

    # -- routes

    def _user(self, request: _Request) -> Row:
        return {"data": request.dataset.user} if self.user_envelope else request.dataset.user

    def _orgs(self, request: _Request) -> Row:
        body = self._list(request, request.dataset.organizations)
        body["items"] = [self._as_seen(request, org) for org in body["items"]]
        return body

    @staticmethod
    def _as_seen(request: _Request, org: Row) -> Row:
        """The Organization as the token's user sees it: a reader's copy for a reader org.

        A copy, so the dataset (shared with other servers and tests) never changes.
        """
        if org["id"] not in request.reader_orgs:
            return org
        return {**org, "permissions": {**org.get("permissions", {}), **READER_ORG_PERMISSIONS}}

    def _org_id(self, request: _Request) -> str:
        org_id = request.params["organizationId"]
        if not request.dataset.has_org(org_id):
            raise ApiError(404, "Organization not found")
        return org_id

    def _space_id(self, request: _Request) -> str:
        space_id = request.params["spaceId"]
        if not request.dataset.has_space(space_id):
            raise ApiError(404, "Space not found")
        return space_id

    def _org_spaces(self, request: _Request) -> Row:
        return self._list(request, request.dataset.spaces_of(self._org_id(request)))

    def _org_members(self, request: _Request) -> Row:
        org_id = self._org_id(request)
        if org_id in request.reader_orgs:
            raise ApiError(403, READER_MEMBERS_MESSAGE)
        return self._list(request, request.dataset.members_of(org_id))

    def _org_sites(self, request: _Request) -> Row:
        """The org's sites, filtered by ``published`` (true or false, else a 400).

        The ``space``, ``title`` and ``type`` filters are ignored.
        """
        sites = request.dataset.sites_of(self._org_id(request))
        if "published" in request.query:
            flags = {"true": True, "false": False}
            value = request.query["published"]
            if value not in flags:
                raise ApiError(400, f"Invalid published {value!r}: expected true or false")
            wanted = flags[value]
            sites = [s for s in sites if request.dataset.is_published(s["id"]) is wanted]
        return self._list(request, sites)

    def _site_insights_aggregate(self, request: _Request) -> Row:
        org_id = self._org_id(request)
        site_id = request.params["siteId"]
        if not request.dataset.has_site(site_id) or request.dataset.site_org(site_id) != org_id:
            raise ApiError(404, "Site not found")
        if not request.body:
            raise ApiError(400, "Invalid request body: a JSON body is required")
        try:
            body = json.loads(request.body)
        except ValueError as exc:
            raise ApiError(400, f"Invalid request body: not JSON ({exc})") from None
        try:
            return site_insights.aggregate(request.dataset, site_id, body, self.clock())
        except site_insights.QueryError as exc:
            raise ApiError(400, str(exc)) from None
        except ImportError:
            message = "The fake API needs jsonschema to validate site insights queries"
            raise ApiError(500, message) from None

    def _space(self, request: _Request) -> Row:
        """One space by id, as used when space ids are configured instead of discovered."""
        return dict(request.dataset.space(self._space_id(request)))

    def _space_content(self, request: _Request) -> Row:
        """The current Revision; its top-level ``pages`` are cursor-paginated (GitBook does not)."""
        space_id = self._space_id(request)
        revision = request.dataset.revision_of(space_id)
        revision["pages"], cursor = self._page(request, request.dataset.pages_of(space_id))
        if cursor is not None:
            revision["next"] = {"page": cursor}
        return revision

    def _space_traffic(self, request: _Request) -> Row:
        space_id = self._space_id(request)
        if request.query.get("interval", "daily") != "daily":
            raise ApiError(400, "Only interval=daily is supported by the fake API")
        series = request.dataset.traffic(space_id)
        views, cursor = self._page(request, series.views)
        body: Row = {"count": series.total, "views": views}
        if cursor is not None:
            body["next"] = {"page": cursor}
        return body


class _Handler(BaseHTTPRequestHandler):
    """Parses HTTP and writes each response (headers + body) in a single send."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        api = self.server.api
        response = api._answer(self.command, self.path, self.headers.get("Authorization"), body)
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        head = [
            f"{self.protocol_version} {response.status} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            f"Date: {self.date_time_string()}",
            "Server: fake-gitbook-api",
            *(f"{name}: {value}" for name, value in response.headers.items()),
        ]
        if response.transport == "reset":
            self.close_connection = True
            return
        body = response.body
        if response.transport == "truncate":
            self.close_connection = True
            body = body[: len(body) // 2]
        elif self.close_connection:
            head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.api.verbose:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that sets TCP_NODELAY and can drop kept-alive connections on stop."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], api: FakeGitBookAPI) -> None:
        self.api = api
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        # Without this, a response split across writes can wait ~40 ms for a delayed ACK.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.api.verbose:
            super().handle_error(request, client_address)
