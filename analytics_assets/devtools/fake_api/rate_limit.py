"""GitBook's rate limiting, as the fake API applies it: fixed windows and ``X-RateLimit-*`` headers.

GitBook sends ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (UTC
epoch seconds) on every response and answers 429 without ``Retry-After`` over the limit; a client
that paces itself must do it from these headers, so the fake sends them too.

Windows are measured on the wall clock (``time.time``), the clock ``X-RateLimit-Reset`` is
written in: a client on the same machine that waits until the advertised second is always in the
next window. Standard library only, like the server.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

LIMIT_HEADER = "X-RateLimit-Limit"
REMAINING_HEADER = "X-RateLimit-Remaining"
RESET_HEADER = "X-RateLimit-Reset"


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` requests per fixed window of ``window_seconds``."""

    requests: int
    window_seconds: float

    def __post_init__(self) -> None:
        if isinstance(self.requests, bool) or not isinstance(self.requests, int):
            raise TypeError("RateLimit.requests must be an int")
        if self.requests < 1:
            raise ValueError("RateLimit.requests must be at least 1")
        if not self.window_seconds > 0 or math.isinf(self.window_seconds):
            raise ValueError("RateLimit.window_seconds must be a positive, finite number")

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"60/60"`` (requests/seconds), the command line's spelling."""
        requests, sep, seconds = text.partition("/")
        if not sep:
            raise ValueError(f"expected REQUESTS/SECONDS such as 60/60, got {text!r}")
        try:
            return cls(int(requests), float(seconds))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid rate limit {text!r}: {exc}") from None


UNENFORCED_RATE_LIMIT = RateLimit(requests=1_000_000, window_seconds=60.0)
"""What the headers advertise when no limit is enforced: about 16,700 requests a second, far more
than this single-process server can answer, so ``Remaining`` never reaches 0 and no client paces.
"""


@dataclass(frozen=True)
class Quota:
    """The limiter's answer to one request, and the headers that tell the client about it."""

    allowed: bool
    limit: int
    remaining: int
    reset: float
    """Wall-clock epoch seconds at which the current window ends (not rounded)."""
    now: float

    @property
    def reset_header(self) -> int:
        """``reset`` rounded up: waiting until this whole second always reaches the next window."""
        return math.ceil(self.reset)

    @property
    def retry_in(self) -> int:
        """Whole seconds from ``now`` until the window ends, rounded up (at least 1)."""
        return max(1, math.ceil(self.reset - self.now))

    def headers(self) -> dict[str, str]:
        return {
            LIMIT_HEADER: str(self.limit),
            REMAINING_HEADER: str(self.remaining),
            RESET_HEADER: str(self.reset_header),
        }


class FixedWindowLimiter:
    """Counts requests in fixed windows; a window starts with the first request after the last.

    ``enforce=False`` counts and reports the same way but never refuses. Requests refused with
    429 are not counted, so they neither use up nor extend the window. Thread-safe.
    """

    def __init__(
        self, limit: RateLimit, *, enforce: bool, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit = limit
        self.enforce = enforce
        self._clock = clock
        self._lock = threading.Lock()
        self._window_end: float | None = None
        self._used = 0

    def _roll(self, now: float) -> None:
        """Start a new window if none is running (called with the lock held)."""
        if self._window_end is None or now >= self._window_end:
            self._window_end = now + self.limit.window_seconds
            self._used = 0

    def take(self) -> Quota:
        """Count one request if the window has room (or nothing is enforced)."""
        with self._lock:
            now = self._clock()
            self._roll(now)
            assert self._window_end is not None
            allowed = not self.enforce or self._used < self.limit.requests
            if allowed:
                self._used += 1
            return Quota(
                allowed=allowed,
                limit=self.limit.requests,
                remaining=max(self.limit.requests - self._used, 0),
                reset=self._window_end,
                now=now,
            )
