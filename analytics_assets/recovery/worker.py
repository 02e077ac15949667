"""Which process runs a run, and whether that process is still alive.

A pid alone is not enough: after a crash or a reboot the pid can belong to another process. The
identity also holds the host, the kernel's boot id and the process's start time, so "alive" means
this very process on this very boot. Off Linux (no /proc) the boot id and start time are empty,
and a live pid counts as alive.
"""

import os
import socket
from dataclasses import dataclass
from pathlib import Path

# The run tag that records the worker; set by the executor when the run starts executing.
WORKER_TAG = "analytics/worker"
# The run tag that records a child process that writes the warehouse (dbt), while it runs.
CHILD_TAG = "analytics/child"
_SEPARATOR = "|"


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 (the state) on; empty off Linux or for no such process."""
    stat = _read(f"/proc/{pid}/stat")
    # The command name (field 2) may hold spaces and parentheses; the fields after it are plain.
    return stat.rsplit(")", 1)[-1].split() if stat else []


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22)."""
    fields = _stat(pid)
    return fields[19] if fields else ""


@dataclass(frozen=True)
class Worker:
    """One process on one host during one boot."""

    host: str
    boot_id: str
    pid: int
    start_ticks: str

    @classmethod
    def current(cls) -> "Worker":
        return cls.of(os.getpid())

    @classmethod
    def of(cls, pid: int) -> "Worker":
        """A process of this host, such as a child this worker started."""
        boot_id = _read("/proc/sys/kernel/random/boot_id")
        return cls(socket.gethostname(), boot_id, pid, _start_ticks(pid))

    @classmethod
    def from_tag(cls, value: str | None) -> "Worker | None":
        parts = (value or "").split(_SEPARATOR)
        if len(parts) != 4 or not parts[2].isdigit():
            return None
        return cls(parts[0], parts[1], int(parts[2]), parts[3])

    def to_tag(self) -> str:
        return _SEPARATOR.join((self.host, self.boot_id, str(self.pid), self.start_ticks))

    def is_alive(self) -> bool | None:
        """True or False when this host can tell; None for a process on another host."""
        here = Worker.current()
        if self.host != here.host:
            return None
        if self.boot_id and here.boot_id and self.boot_id != here.boot_id:
            return False  # the machine rebooted since: every process of that boot is gone
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # exists, owned by another user
        fields = _stat(self.pid)
        if fields and fields[0] in ("Z", "X"):
            return False  # exited, not yet reaped by its parent
        # A different start time: the pid was reused by a younger process.
        return not (self.start_ticks and fields and fields[19] != self.start_ticks)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"
