"""Which process runs a run, and whether that process is still alive.

A pid alone is not enough: after a crash or a reboot the pid can belong to another process, and
two containers can share a hostname. The identity also holds the machine id, the kernel's boot
id, the pid namespace and the process's start time, so "alive" means this very process on this
very boot, and "dead" is only said where this process could see the other one. Off Linux (no
/proc) those fields are empty: a live pid then counts as alive, a missing one as dead.
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


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 (the state) on; empty off Linux or for no such process."""
    stat = _read(f"/proc/{pid}/stat")
    # The command name (field 2) may hold spaces and parentheses; the fields after it are plain.
    return stat.rsplit(")", 1)[-1].split() if stat else []


def _start_ticks(fields: list[str]) -> str:
    """The process's start time in clock ticks since boot (field 22)."""
    return fields[19] if len(fields) > 19 else ""


def _differ(mine: str, theirs: str) -> bool:
    return bool(mine and theirs and mine != theirs)


@dataclass(frozen=True)
class Worker:
    """One process on one machine, in one pid namespace, during one boot."""

    host: str
    machine_id: str
    boot_id: str
    pid_ns: str
    pid: int
    start_ticks: str

    @classmethod
    def current(cls) -> "Worker":
        return cls.of(os.getpid())

    @classmethod
    def of(cls, pid: int) -> "Worker":
        """A process of this machine, such as a child this worker started."""
        return cls(
            socket.gethostname(),
            _read("/etc/machine-id"),
            _read("/proc/sys/kernel/random/boot_id"),
            _pid_namespace(),
            pid,
            _start_ticks(_stat(pid)),
        )

    @classmethod
    def from_tag(cls, value: str | None) -> "Worker | None":
        parts = (value or "").split(_SEPARATOR)
        if len(parts) != 6 or not parts[4].isdigit():
            return None
        host, machine_id, boot_id, pid_ns, pid, start = parts
        return cls(host, machine_id, boot_id, pid_ns, int(pid), start)

    def to_tag(self) -> str:
        fields = (self.host, self.machine_id, self.boot_id, self.pid_ns, str(self.pid))
        return _SEPARATOR.join((*fields, self.start_ticks))

    def is_alive(self) -> bool | None:
        """True or False where this process can tell; None where it cannot see the other."""
        here = Worker.current()
        if self.host != here.host or _differ(self.machine_id, here.machine_id):
            return None  # another machine (or a container of the same name elsewhere)
        if _differ(self.boot_id, here.boot_id):
            # This machine rebooted since, and every process of that boot is gone; unless the
            # machine id cannot tell this machine from another of the same name.
            return False if self.machine_id and self.machine_id == here.machine_id else None
        if _differ(self.pid_ns, here.pid_ns):
            return None  # another container on this machine: its pids are not ours to see
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
        return not _differ(self.start_ticks, _start_ticks(fields))

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"
