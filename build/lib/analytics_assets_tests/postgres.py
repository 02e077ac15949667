"""A throwaway PostgreSQL server for tests: `initdb` into a temp dir, a free port, no root.

PostgreSQL refuses to run as root, and CI runs as root, so the server then runs as the system's
`postgres` account (created by Debian's package) through `setpriv`. The server is tuned for
tests (no fsync), listens on loopback only and asks for a password there.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from analytics_assets.devtools.webserver import free_port

SUPERUSER = "analytics"
# dlt's PostgresCredentials require a password, as any real server would; so TCP needs one here.
PASSWORD = "analytics-test-password"
# Set by `.ci/run`: a machine without PostgreSQL binaries then fails instead of skipping.
REQUIRE_ENV = "ANALYTICS_TESTS_REQUIRE_POSTGRES"
SERVICE_ACCOUNT = "postgres"
START_TIMEOUT_S = 30.0


def find_bindir() -> Path | None:
    """The folder holding `initdb` and `postgres`: $PATH first, then Debian's layout."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("postgres"):
        return Path(initdb).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    return candidates[-1].parent if candidates else None


def _demote() -> list[str]:
    """The command prefix that drops root to the service account; empty when not root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError as error:
        raise RuntimeError(
            f"PostgreSQL cannot run as root and there is no '{SERVICE_ACCOUNT}' account to run "
            "it as; run the tests as a normal user or install Debian's postgresql package."
        ) from error
    return ["setpriv", f"--reuid={SERVICE_ACCOUNT}", f"--regid={SERVICE_ACCOUNT}", "--init-groups"]


@dataclass(frozen=True)
class PostgresServer:
    """A running server; `url(database)` is a libpq URL dlt and Dagster both accept."""

    host: str
    port: int
    user: str
    password: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg2

        connection = psycopg2.connect(self.url())
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)

    def query(self, database: str, sql: str) -> list[tuple[object, ...]]:
        import psycopg2

        connection = psycopg2.connect(self.url(database))
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            connection.close()


def _wait_until_ready(server: PostgresServer, process: subprocess.Popen[bytes], log: Path) -> None:
    import psycopg2

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited during start-up:\n{log.read_text()[-2000:]}")
        try:
            psycopg2.connect(server.url(), connect_timeout=1).close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL did not accept connections within {START_TIMEOUT_S:.0f} s:\n"
                    f"{log.read_text()[-2000:]}"
                ) from None
            time.sleep(0.1)


@contextmanager
def running_postgres(bindir: Path) -> Iterator[PostgresServer]:
    """Start a server in a new temp dir and remove both when the block ends."""
    prefix = _demote()
    root = Path(tempfile.mkdtemp(prefix="analytics-pg-"))
    try:
        if prefix:
            account = pwd.getpwnam(SERVICE_ACCOUNT)
            os.chown(root, account.pw_uid, account.pw_gid)
        data, log, pwfile = root / "data", root / "server.log", root / "pwfile"
        pwfile.write_text(PASSWORD)
        if prefix:
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        subprocess.run(
            [
                *prefix,
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth-host",
                "scram-sha-256",
                "--auth-local",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        server = PostgresServer("127.0.0.1", free_port(), SUPERUSER, PASSWORD)
        settings = {
            "listen_addresses": server.host,
            "port": str(server.port),
            "unix_socket_directories": str(root),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [*prefix, str(bindir / "postgres"), "-D", str(data), *options],
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_until_ready(server, process, log)
            yield server
        finally:
            process.send_signal(signal.SIGINT)  # "fast" shutdown: ends open sessions
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
