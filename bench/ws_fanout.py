"""Benchmark: WebSocket fan-out of admission rounds to 5,000 waiting clients.

Starts uvicorn (2 worker processes, per-message deflate off) on 127.0.0.1
serving the project's application plus a stock-Channels baseline route
(``bench/ws_stock_asgi.py``: the same consumer, delivered through one
channel-layer channel per socket). For each of the two paths: 5,000 users
join one event's queue, each opens its waiting-page WebSocket, then
admission rounds run through the project's own ``admission_round_run``.
Measured: time from the end of a round until each client has its new
position (p50/p99/max over all clients and rounds), Redis commands per round
(``total_commands_processed``, with 5,000 and with 500 clients), and server
memory per open socket (RSS of the worker processes). Clients are a light
asyncio protocol in this process. Prints one JSON object last.

Run: ``python bench/ws_fanout.py`` (starts its own ``redis-server`` on a free
loopback port, so the Redis command counts are its own; uses DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import resource
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.support import free_port, start_private_redis, stop_server, uvicorn_command, wait_until_healthy  # noqa: E402

PRIVATE_REDIS = start_private_redis()
os.environ.setdefault("REDIS_DB", "5")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings")
# A fixed workload: every round admits BATCH, whatever admission's controller
# would make of this machine's event-loop lag (its own benchmark is onsale.py).
os.environ.setdefault("ADMISSION_CONTROLLER", "0")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from accounts.authentication import CachedTokenAuthentication  # noqa: E402
from accounts.services import tokens_issue  # noqa: E402
from core.redis import get_redis  # noqa: E402
from queue_app import store  # noqa: E402
from queue_app.selectors import event_sale_snapshot_forget  # noqa: E402
from queue_app.services import admission_round_run  # noqa: E402
from reservations.models import Event  # noqa: E402
from reservations.services import event_create  # noqa: E402

CLIENTS = int(os.environ.get("WS_FANOUT_CLIENTS", 5_000))
SMALL = int(os.environ.get("WS_FANOUT_SMALL", 500))
ROUNDS = 5
BATCH = 100
WORKERS = 2
ROUND_TIMEOUT = 15.0
WS_IMPLEMENTATION = os.environ.get("WS_FANOUT_WS", "websockets-sansio")


def raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def prepare_users() -> list[tuple[int, str]]:
    call_command("migrate", verbosity=0)
    model = get_user_model()
    model.objects.filter(username__startswith="wsfan").delete()
    users = model.objects.bulk_create([model(username=f"wsfan{i}", password="!") for i in range(CLIENTS)])
    tokens = tokens_issue(user_ids=[u.id for u in users])
    auth = CachedTokenAuthentication()
    for token in tokens.values():
        auth.authenticate_credentials(token.encode())  # as at login: the token cache is warm
    return list(tokens.items())


def fresh_event(people: list[tuple[int, str]]) -> Event:
    """An event with everyone in its queue, in order (client i is at i + 1)."""
    event = event_create(
        name="ws_fanout bench",
        venue_name="Bench Arena",
        sections="A:100x100:R:1000",
        batch=BATCH,
        interval=1,
        cap=100_000,
    )
    pipe = get_redis().pipeline(transaction=False)
    store.store_join_pipe(pipe, event_id=event.id, user_ids=[u for u, _ in people], now=time.time())
    pipe.execute()
    return event


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "0", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        uvicorn_command(
            "bench.ws_stock_asgi:application",
            port,
            WORKERS,
            *("--ws", WS_IMPLEMENTATION, "--ws-ping-interval", "60", "--backlog", "8192"),
        ),
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    return wait_until_healthy(server, port)


def worker_rss_bytes(server: subprocess.Popen) -> int:
    """Resident memory of uvicorn's worker processes (children of the supervisor)."""
    total = 0
    for child in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split():
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


class Client(asyncio.Protocol):
    """A minimal WebSocket client: handshake, then unmasked server text frames."""

    def __init__(self, request: bytes, connected: asyncio.Future) -> None:
        self.request = request
        self.connected = connected
        self.buffer = b""
        self.upgraded = False
        self.position: int | None = None
        self.changed_at = 0.0
        self.admitted = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.connected.set_exception(RuntimeError(self.buffer[:200].decode(errors="replace")))
                return
            self.upgraded = True
            self.buffer = self.buffer[end + 4 :]
        while len(self.buffer) >= 2:
            length = self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length = struct.unpack(">H", self.buffer[2:4])[0]
                offset = 4
            if len(self.buffer) < offset + length:
                return
            opcode = self.buffer[0] & 0x0F
            payload = self.buffer[offset : offset + length]
            self.buffer = self.buffer[offset + length :]
            if opcode == 1:
                self.on_frame(json.loads(payload), now)

    def on_frame(self, frame: dict, now: float) -> None:
        if frame["type"] == "position":
            if self.position is None or frame["position"] < self.position:
                self.position, self.changed_at = frame["position"], now
            if not self.connected.done():
                self.connected.set_result(None)
        elif frame["type"] == "admitted":
            self.admitted, self.changed_at = True, now
            if not self.connected.done():
                self.connected.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected.done():
            self.connected.set_exception(RuntimeError(f"connection lost: {exc}"))


def handshake(path: str, token: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Token {token}\r\n\r\n"
    ).encode()


async def open_clients(port: int, path: str, people: list[tuple[int, str]]) -> list[Client]:
    loop = asyncio.get_running_loop()
    clients: list[Client] = []
    waits = []
    semaphore = asyncio.Semaphore(50)

    async def one(token: str) -> None:
        async with semaphore:
            connected = loop.create_future()
            _, client = await loop.create_connection(
                lambda: Client(handshake(path, token), connected), "127.0.0.1", port
            )
            clients.append(client)
            await asyncio.wait_for(connected, 60)

    for _, token in people:
        waits.append(one(token))
    await asyncio.gather(*waits)
    return clients


def clear_queues() -> None:
    """Drop queue keys only: the token cache shares this Redis db."""
    r = get_redis()
    keys = list(r.scan_iter("q:*", count=1000))
    if keys:
        r.delete(*keys)


def commands_processed() -> int:
    return int(get_redis().info("stats")["total_commands_processed"])


async def run_rounds(event: Event, clients: list[Client]) -> tuple[list[float], list[int]]:
    """Admission rounds; per client per round, seconds from the round's end
    to its new position (or admission). Also Redis commands per round."""
    latencies: list[float] = []
    commands: list[int] = []
    for _ in range(ROUNDS):
        await asyncio.sleep(1.1)  # the event's interval (1 s) has passed
        waiting = [c for c in clients if not c.admitted]
        before = {id(c): c.changed_at for c in waiting}
        start_commands = commands_processed()
        await asyncio.to_thread(admission_round_run, event=event)
        ended = time.time()
        deadline = ended + ROUND_TIMEOUT
        while time.time() < deadline and any(c.changed_at == before[id(c)] for c in waiting):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        commands.append(commands_processed() - start_commands - 1)  # less our own INFO
        missing = sum(1 for c in waiting if c.changed_at == before[id(c)])
        print(f"round: {len(waiting)} waiting, {missing} without a new position, {commands[-1]} redis commands")
        for client in waiting:
            if client.changed_at == before[id(client)]:
                latencies.append(ROUND_TIMEOUT)  # never arrived: counted as the timeout
            else:
                latencies.append(max(0.0, client.changed_at - ended))
    return latencies, commands


async def measure(path_of, people: list[tuple[int, str]]) -> dict:
    """One delivery path on a freshly started server (so its memory is its own)."""
    port = free_port()
    server = await asyncio.to_thread(start_server, port)
    try:
        return await measure_on(port, server, path_of, people)
    finally:
        await asyncio.to_thread(stop_server, server)


async def measure_on(port: int, server: subprocess.Popen, path_of, people: list[tuple[int, str]]) -> dict:
    clear_queues()
    event_sale_snapshot_forget()
    event = await asyncio.to_thread(fresh_event, people)
    await asyncio.to_thread(event.refresh_from_db)
    path = path_of(event.id)
    rss_before = worker_rss_bytes(server)
    clients = await open_clients(port, path, people)
    await asyncio.sleep(2)
    rss_after = worker_rss_bytes(server)
    latencies, commands = await run_rounds(event, clients)
    for client in clients:
        client.transport.close()
    await asyncio.sleep(2)

    small_commands: list[int] = []
    if SMALL:
        clear_queues()
        small_event = await asyncio.to_thread(fresh_event, people[:SMALL])
        small = await open_clients(port, path_of(small_event.id), people[:SMALL])
        _, small_commands = await run_rounds(small_event, small)
        for client in small:
            client.transport.close()
        await asyncio.sleep(2)
    latencies.sort()
    return {
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
        "redis_cmds_per_round": max(commands),
        "redis_cmds_per_round_500": max(small_commands) if small_commands else None,
        "kb_per_socket": round((rss_after - rss_before) / len(clients) / 1024, 1),
    }


async def run(people: list[tuple[int, str]]) -> dict:
    ours = await measure(lambda e: f"/ws/events/{e}/queue/", people)
    stock = await measure(lambda e: f"/ws/bench/stock/events/{e}/queue/", people)
    return {
        "clients": CLIENTS,
        "rounds": ROUNDS,
        "workers": WORKERS,
        "p50_ms": ours["p50_ms"],
        "p99_ms": ours["p99_ms"],
        "max_ms": ours["max_ms"],
        "redis_cmds_per_round": ours["redis_cmds_per_round"],
        "redis_cmds_per_round_at_500": ours["redis_cmds_per_round_500"],
        "kb_per_socket": ours["kb_per_socket"],
        "baseline_p50_ms": stock["p50_ms"],
        "baseline_p99_ms": stock["p99_ms"],
        "baseline_max_ms": stock["max_ms"],
        "baseline_redis_cmds_per_round": stock["redis_cmds_per_round"],
        "baseline_kb_per_socket": stock["kb_per_socket"],
    }


def main() -> None:
    raise_open_files()
    try:
        people = prepare_users()
        figures = asyncio.run(run(people))
    finally:
        stop_server(PRIVATE_REDIS)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
