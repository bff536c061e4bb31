"""Pieces the benchmarks share: free ports, a private Redis, a uvicorn to measure."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    """One process's line of /proc/PID/stat, in clock ticks."""

    ppid: int
    own: int  # utime + stime
    reaped: int  # cutime + cstime: children that exited and were waited for
    started: int  # starttime: tells a process from a later one with the same pid


def proc_table() -> dict[int, Proc]:
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            text = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2 :].split()  # fields[0] is field 3 (state)
        table[int(name)] = Proc(
            ppid=int(fields[1]),
            own=int(fields[11]) + int(fields[12]),
            reaped=int(fields[13]) + int(fields[14]),
            started=int(fields[19]),
        )
    return table


def proc_tree(table: dict[int, Proc], roots: list[int]) -> set[int]:
    """``roots`` and all their live descendants."""
    children: dict[int, list[int]] = {}
    for pid, proc in table.items():
        children.setdefault(proc.ppid, []).append(pid)
    found, todo = set(), [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_cpu_ms(roots: list[int]) -> float:
    """CPU so far of ``roots`` and their descendants, those that exited and were reaped included."""
    table = proc_table()
    return sum(table[p].own + table[p].reaped for p in proc_tree(table, roots)) * CLOCK_TICK_MS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_private_redis() -> subprocess.Popen:
    """A Redis server of the benchmark's own on a free loopback port, exported
    as ``REDIS_URL``: other processes sharing the machine's Redis would
    otherwise sit in the latency figures and the command counts."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.05)
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    return server


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL after 20 s."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def wait_until_healthy(server: subprocess.Popen, port: int, timeout: float = 60) -> subprocess.Popen:
    """Return ``server`` once ``/healthz`` answers 200 on ``port``; stop it and raise otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if b"200" in sock.recv(64):
                    return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("uvicorn did not start")


def celery_commands(beat_schedule: Path, *worker_args: str) -> tuple[list[str], list[str]]:
    """(worker, beat) as the product runs them, quiet logs; ``worker_args``
    (for example ``-c 2``) go to the worker."""
    celery = [sys.executable, "-m", "celery", "-A", "ticketing"]
    return (
        [*celery, "worker", *worker_args, "--loglevel", "WARNING"],
        [*celery, "beat", "--loglevel", "WARNING", "-s", str(beat_schedule)],
    )


def uvicorn_command(app: str, port: int, workers: int, *extra: str) -> list[str]:
    """uvicorn as the product runs it (no WebSocket compression, quiet logs), plus ``extra``."""
    return [
        sys.executable, "-m", "uvicorn", app,
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--ws-per-message-deflate", "false", "--no-access-log", "--log-level", "warning",
        *extra,
    ]  # fmt: skip


@dataclass(frozen=True)
class RawResponse:
    """One HTTP/1.1 response as the benchmarks' clients read it."""

    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    wire_bytes: int  # status line, headers and body as they came

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


async def response_read(reader: asyncio.StreamReader) -> RawResponse:
    """Read one response (``Content-Length``, chunked, or to the end of the
    connection); ``ConnectionError`` when the server closed before answering."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    wire = len(status_line)
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        wire += len(line)
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    wire += 2
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        body = b""
        while size := int((await reader.readline()).strip(), 16):
            body += await reader.readexactly(size)
            await reader.readline()
        await reader.readline()
    else:
        body = await reader.read()
    return RawResponse(int(status_line.split()[1]), headers, body, wire + len(body))


def machine_reference(database_url: str | None = None, runs: int = 5) -> dict[str, float]:
    """The machine's speed today, measured in the same run as the figures
    beside it: the median CPU time of a fixed pure-Python task (JSON, SHA-256,
    dicts and strings, as the web path does), and of a fixed PostgreSQL query
    (its execution time, one backend on one core). This shared machine's
    speed has changed 2-3 times between sessions; a figure divided by these
    is comparable across days where the figure alone is not."""
    import hashlib
    import json
    import statistics

    def python_task() -> float:
        started = time.process_time()
        digest = b""
        for n in range(5_000):
            body = json.dumps({"seat_ids": [n, n + 1], "grade": "R", "note": f"seat {n}"})
            digest = hashlib.sha256(digest + body.encode()).digest()
            json.loads(body)["seat_ids"].append(len(digest))
        return (time.process_time() - started) * 1000

    figures = {"python_ms": round(statistics.median(python_task() for _ in range(runs)), 2)}
    if database_url:
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as connection:
            timings = []
            for _ in range(runs):
                plan = connection.execute(
                    "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(DISTINCT md5(i::text)), sum(length(i::text))"
                    " FROM generate_series(1, 50000) i"
                ).fetchone()[0]
                timings.append(plan[0]["Execution Time"])
            figures["postgres_ms"] = round(statistics.median(timings), 2)
    return figures
