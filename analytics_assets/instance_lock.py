"""One observer at a time per Dagster instance and machine.

Runs waiting for a pool slot, the daemon's sensors and the recovery command may all notice the
same dead run or stale asset at once; Dagster's storage offers no compare-and-set, so they take
turns under a file lock in DAGSTER_HOME before they mark a run failed or claim an alert.
"""

import contextlib
import fcntl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from dagster import DagsterInstance

LOCK_FILE = ".analytics_assets.lock"
# Re-entrant within a process (a heal that alerts claims under the lock it already holds):
# flock would block on a second open of the same file, so only the outermost holder takes it.
_in_process = threading.RLock()
_held: dict[Path, tuple[int, IO[str]]] = {}


@contextlib.contextmanager
def instance_lock(instance: DagsterInstance) -> Iterator[None]:
    """Exclusive for this instance's observers on this machine; a no-op for an instance
    without a local folder (an ephemeral one)."""
    try:
        root = Path(instance.root_directory)
    except Exception:  # an instance without local storage
        root = None
    if root is None or not root.is_dir():
        yield
        return
    with _in_process:
        depth, handle = _held.get(root, (0, None))  # type: ignore[arg-type]
        if depth == 0:
            handle = open(root / LOCK_FILE, "a")  # noqa: SIM115 (closed on the outermost exit)
            fcntl.flock(handle, fcntl.LOCK_EX)
        _held[root] = (depth + 1, handle)
        try:
            yield
        finally:
            depth, handle = _held.pop(root)
            if depth > 1:
                _held[root] = (depth - 1, handle)
            else:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
