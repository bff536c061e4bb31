"""The real product as separate processes, for the browser and fault tests.

``LiveStack`` starts ``uvicorn ticketing.asgi:application``, Celery workers
and Celery beat against pytest-django's test database and this run's Redis
db, with a metrics directory of their own (``PROMETHEUS_MULTIPROC_DIR``,
removed at ``stop``), each process by name, so a test can kill one (``SIGKILL``, as a crash
would), start it again, or stop them all. Tests that use it must be
``transaction=True`` so the processes see their data.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

from core.redis import get_redis
from ticketing.metrics_dir import ENV_NAME as METRICS_DIR_ENV
from ticketing.metrics_dir import metrics_dir

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
# Celery's broker lives in the same Redis db as the app; these keys are its
# queues and bindings, which a flush between tests would break.
BROKER_KEY_PREFIXES = ("_kombu.", "unacked", "celery", "booking", "mail")


def redis_flush_keeping_broker() -> None:
    """Empty this run's Redis db except the live Celery broker's queues."""
    redis = get_redis()
    doomed = [key for key in redis.scan_iter(count=1000) if not key.decode().startswith(BROKER_KEY_PREFIXES)]
    if doomed:
        redis.delete(*doomed)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test database as a URL; a Unix-socket directory (the embedded server) goes percent-encoded."""
    db = settings.DATABASES["default"]
    auth = quote(db["USER"], safe="") + (":" + quote(db["PASSWORD"], safe="") if db.get("PASSWORD") else "")
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def base_env(**overrides: str) -> dict[str, str]:
    """The suite's settings for a child process (same database, Redis db and fast hasher), plus ``overrides``."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ticketing.settings_test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "REDIS_DB": os.environ.get("REDIS_DB", "15"),
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EMAIL_URL": "consolemail://",
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


class LiveStack:
    """Named processes of the product; ``url`` is the web server's base URL once started."""

    def __init__(self, env: Mapping[str, str], *, name: str) -> None:
        self._cleanup = ExitStack()
        self.metrics_dir = self._cleanup.enter_context(metrics_dir())
        self.env = {**env, METRICS_DIR_ENV: self.metrics_dir}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
        self.log_path = ARTIFACTS / f"{name}.log"
        self.schedule = ARTIFACTS / f"{name}-celerybeat-schedule"
        self.processes: dict[str, subprocess.Popen] = {}
        self._log = self.log_path.open("w")

    def command(self, name: str) -> list[str]:
        """``web``, ``beat``, ``worker`` (every queue), ``worker:<queue>`` (that queue
        only); ``@N`` at the end sets a worker's concurrency (default 2), or
        the web server's worker processes (default 1)."""
        python = sys.executable
        name, _, concurrency = name.partition("@")
        if name == "web":
            return [
                python,
                "-m",
                "uvicorn",
                "ticketing.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-proxy-headers",  # as the product runs: core.client_address decides
                *(["--workers", concurrency] if concurrency else []),
            ]
        if name == "beat":
            return [python, "-m", "celery", "-A", "ticketing", "beat", "-s", str(self.schedule), "--pidfile="]
        label = name.replace(":", "-")
        worker = [python, "-m", "celery", "-A", "ticketing", "worker", "-c", concurrency or "2"]
        worker += ["-n", f"{label}-{self.port}@%h", "--prefetch-multiplier", "1"]
        if name.startswith("worker:"):
            worker += ["-Q", name.partition(":")[2]]
        return worker

    def start(self, *names: str) -> None:
        for name in names:
            self.processes[name] = subprocess.Popen(
                self.command(name), cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
            )
        if any(name.partition("@")[0] == "web" for name in names):
            self.wait_healthy()

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:  # noqa: S310 (loopback)
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the live server did not answer in time; see {self.log_path}")

    def log_tail(self, lines: int = 200) -> str:
        """The last ``lines`` lines the processes wrote, for a failure's report."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def kill(self, name: str) -> None:
        """``SIGKILL`` the process and its children, as a crash or the OOM killer would."""
        proc = self.processes.pop(name)
        for child in _children(proc.pid):
            _signal(child, signal.SIGKILL)
        proc.kill()
        proc.wait()

    def stop(self) -> None:
        for proc in self.processes.values():
            proc.terminate()
        for proc in self.processes.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()
        for leftover in ARTIFACTS.glob(f"{self.schedule.name}*"):
            leftover.unlink()
        self._log.close()
        self._cleanup.close()


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (Celery's prefork children), read from /proc."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            child = int(entry.name)
            found += [child, *_children(child)]
    return found


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
