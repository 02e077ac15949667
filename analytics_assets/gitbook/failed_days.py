"""The UTC days of a site insights run that could not be loaded, and why.

One bad day must not sink a range: the source records a day's failure here and goes on with
the other days, loads only the days that completed, and the Dagster asset then marks just those
partitions materialized and fails the run naming the rest (see the site insights asset).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, timedelta

from analytics_assets.gitbook.errors import (
    GitBookAccessError,
    GitBookAuthError,
    GitBookConfigError,
    GitBookRateLimitError,
)

RUN_LEVEL_ERRORS: tuple[type[Exception], ...] = (
    GitBookAuthError,
    GitBookAccessError,
    GitBookConfigError,
    GitBookRateLimitError,
)
"""Failures that no other day would escape either (token, permissions, rate-limit budget):
they stop the whole run instead of being charged to one day."""


@dataclass
class FailedDays:
    """Thread-safe: the source's workers record failures concurrently."""

    _reasons: dict[date, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, day: date, reason: str) -> None:
        """Keep the first reason per day: later ones are usually the same outage."""
        with self._lock:
            self._reasons.setdefault(day, reason)

    def __contains__(self, day: object) -> bool:
        with self._lock:
            return day in self._reasons

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._reasons)

    @property
    def days(self) -> list[date]:
        with self._lock:
            return sorted(self._reasons)

    def reasons(self) -> dict[date, str]:
        with self._lock:
            return dict(sorted(self._reasons.items()))


def contiguous_ranges(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as (first, last) runs of consecutive days: one re-run command per run."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(days):
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges
