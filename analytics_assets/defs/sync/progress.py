"""Progress of a running sync in the run log: pages fetched and rows so far, per resource.

dlt's `LogCollector` already counts rows per table in the extract, normalize and load steps
and writes them to a logger at most once per period; Dagster's run logger is a
`logging.Logger`, so the lines land in the run log. This adds pages per resource and makes the
counters safe to update from the extract worker threads that fetch the pages.
"""

import logging
import threading
from collections.abc import Callable
from typing import Any

from dlt.common.runtime.collector import LogCollector

DEFAULT_PROGRESS_SECONDS = 10.0


class SyncProgress(LogCollector):
    """A thread-safe `LogCollector` that also counts the pages each resource fetched."""

    def __init__(self, logger: logging.Logger, log_period: float = DEFAULT_PROGRESS_SECONDS):
        super().__init__(log_period=log_period, logger=logger, dump_system_stats=False)
        self._lock = threading.RLock()
        self.before_normalize: Callable[[], None] | None = None
        """Called when dlt starts normalizing what it extracted: the one moment between the
        extract of every table and the load of any; what it raises fails the run."""

    def update(self, name: str, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            if self.counters is not None:  # None between dlt's steps
                super().update(name, *args, **kwargs)

    def _start(self, step: str) -> None:
        if step.startswith("Normalize") and self.before_normalize is not None:
            self.before_normalize()
        with self._lock:
            super()._start(step)

    def _stop(self) -> None:
        with self._lock:
            super()._stop()

    def page(self, resource: str) -> None:
        """One more page of `resource` arrived (called by the response hook)."""
        self.update(resource, label="pages")
