"""GitBook's rate limiter, respected: pace from `X-RateLimit-*`, wait out a 429 for its window.

GitBook answers every request with `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset` (UTC epoch seconds), and over the limit with HTTP 429 and no `Retry-After`.
Its window (60 s in the documented example) is longer than the design document's whole backoff
(2 + 4 + 8 s), so a blind retry fails. Instead every request of a sync shares one `RateLimitPacer`:
it stops sending when the window's budget is spent and resumes when the window resets, and a 429
that comes anyway is waited out and re-sent without counting as a failed attempt.

The pacing lives in a transport adapter, below dlt's retry and below the response hooks, so the
retry policy only ever sees 5xx answers and 429s that carry no timing at all.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from analytics_assets.gitbook.errors import GitBookRateLimitError
from analytics_assets.gitbook.removed_endpoint import RemovedEndpoint
from analytics_assets.gitbook.settings import MAX_RATE_LIMIT_WAIT_SECONDS, resource_for_path

LIMIT_HEADER = "X-RateLimit-Limit"
REMAINING_HEADER = "X-RateLimit-Remaining"
RESET_HEADER = "X-RateLimit-Reset"
# Resume this long after the announced reset: it is whole seconds, and clocks differ slightly.
RESET_MARGIN_SECONDS = 0.25
# A 429 whose reset is already past (clock skew) still waits this long, so it cannot spin.
MIN_429_WAIT_SECONDS = 1.0
MAX_WAIT_ENV = "GITBOOK_MAX_RATE_LIMIT_WAIT_SECONDS"


def _header_float(response: Response, name: str) -> float | None:
    value = response.headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _retry_after(response: Response, now: float) -> float | None:
    """`Retry-After` as an epoch time: delta seconds or an HTTP date."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return now + max(float(value), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return parsed.timestamp() if parsed is not None else None


def _clock_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M:%S UTC")


class RateLimitPacer:
    """One sync's view of GitBook's rate-limit window, shared by every thread that sends.

    `max_wait` caps the wall time a sync may spend waiting for windows (the waits of concurrent
    requests overlap and count once); past it the sync fails with `GitBookRateLimitError`.
    """

    def __init__(
        self,
        *,
        max_wait: float = MAX_RATE_LIMIT_WAIT_SECONDS,
        log: Callable[[str], None] = print,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_wait = max_wait
        self.log = log
        self.clock = clock
        self._cond = threading.Condition()
        self._limit: float | None = None
        self._remaining: float | None = None
        self._reset: float | None = None
        self._pause_until = 0.0
        self._waited = 0.0
        self._waited_until = 0.0
        self._announced: float | None = None
        self.waits = 0
        """How many distinct windows this sync waited for (for tests and the run log)."""

    @property
    def waited_seconds(self) -> float:
        """Wall time spent waiting for windows so far."""
        return self._waited

    def before_send(self, request: PreparedRequest) -> None:
        """Block until the window has budget for one more request, then spend it."""
        with self._cond:
            while True:
                now = self.clock()
                if now < self._pause_until:  # a 429 said when to come back
                    self._wait_locked(self._pause_until, request, now)
                    continue
                if self._reset is not None and now >= self._reset:
                    # The window is over: a fresh one has the whole limit until a response says.
                    self._remaining, self._reset = self._limit, None
                if self._remaining is None or self._remaining > 0:
                    if self._remaining is not None:
                        self._remaining -= 1
                    return
                if self._reset is None:
                    # Spent, and no answer of the new window has come yet: wait for one.
                    self._cond.wait(timeout=MIN_429_WAIT_SECONDS)
                    continue
                self._wait_locked(self._reset, request, now)

    def observe(self, response: Response) -> float | None:
        """Update the window from a response; for a 429, the epoch time to re-send at.

        None for a 429 that says nothing of when to come back: dlt's retry policy then backs
        off as the design document says.
        """
        now = self.clock()
        limit = _header_float(response, LIMIT_HEADER)
        remaining = _header_float(response, REMAINING_HEADER)
        reset = _header_float(response, RESET_HEADER)
        if reset is not None:
            reset += RESET_MARGIN_SECONDS
        with self._cond:
            if limit is not None:
                self._limit = limit
            if remaining is not None and reset is not None:
                if self._reset is None or reset > self._reset + 0.5:
                    # A newer window than the one we pace by; requests in flight spent from it too.
                    self._reset = reset
                    self._remaining = (
                        remaining if self._remaining is None else min(self._remaining, remaining)
                    )
                else:
                    self._remaining = min(self._remaining or 0.0, remaining)
            self._cond.notify_all()
            if response.status_code != 429:
                return None
            resume = _retry_after(response, now)
            if resume is None and reset is not None:
                resume = reset
            if resume is None:
                return None
            resume = max(resume, now + MIN_429_WAIT_SECONDS)
            # Apart from the window: `Retry-After` may be sooner than the window's reset.
            self._pause_until = max(self._pause_until, resume)
            return resume

    def _wait_locked(self, until: float, request: PreparedRequest, now: float) -> None:
        """Wait (releasing the lock) until `until`, counting wall time once across threads."""
        added = max(0.0, until - max(now, self._waited_until))
        if self._waited + added > self.max_wait:
            raise self._too_long(request, until - now)
        self._waited += added
        self._waited_until = max(self._waited_until, until)
        if self._announced is None or until > self._announced + 0.5:
            self._announced = until
            self.waits += 1
            self.log(
                f"rate limited by GitBook: waiting {until - now:.0f} s, window resets at "
                f"{_clock_time(until - RESET_MARGIN_SECONDS)} (limit "
                f"{self._limit:.0f} requests per window; waited {self._waited:.0f} s of at most "
                f"{self.max_wait:.0f} s in this sync)"
                if self._limit is not None
                else f"rate limited by GitBook: waiting {until - now:.0f} s"
            )
        self._cond.wait(timeout=max(until - now, 0.0))

    def _too_long(self, request: PreparedRequest, wait: float) -> GitBookRateLimitError:
        path = urlsplit(request.url or "").path
        resource = resource_for_path(path)
        where = f"resource '{resource}' at " if resource else ""
        return GitBookRateLimitError(
            f"GitBook's rate limit stopped the sync: {where}{request.method} {path} would wait "
            f"{wait:.0f} s more (HTTP 429), past the {self.max_wait:.0f} s this sync may wait in "
            f"all ({MAX_WAIT_ENV}; {self._waited:.0f} s waited). Nothing was loaded. Raise "
            f"{MAX_WAIT_ENV}, lower GITBOOK_MAX_CONCURRENCY, or sync when other clients of this "
            "token are idle.",
            resource=resource,
            path=path,
        )


class RateLimitedAdapter(HTTPAdapter):
    """An `HTTPAdapter` that paces every request and re-sends a 429 after its window."""

    def __init__(
        self,
        pacer: RateLimitPacer,
        *,
        removed: Sequence[RemovedEndpoint] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pacer = pacer
        self.removed = tuple(removed)

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:  # type: ignore[override]
        def paced(prepared: PreparedRequest) -> Response:
            return self._paced_send(prepared, *args, **kwargs)

        for endpoint in self.removed:  # asked once, then answered locally if it is gone
            if (response := endpoint.send(request, paced)) is not None:
                response.connection = self
                return response
        return paced(request)

    def _paced_send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        while True:
            self.pacer.before_send(request)
            response = super().send(request, *args, **kwargs)
            if self.pacer.observe(response) is None:
                return response
            response.close()
