"""``python3 dev.py run`` for real: web, worker and beat come up against the
suite's PostgreSQL and Redis, answer over HTTP, and Ctrl-C (SIGINT) stops
every process they started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def suite_database_url() -> str:
    """The URL of the test database pytest-django made (not the dev one)."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{quote(db['HOST'] or '', safe='')}:{db['PORT'] or 5432}/{db['NAME']}"


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a local URL
            return response.status
    except OSError:
        return 0


@pytest.mark.django_db
def test_run_serves_the_product_and_ctrl_c_stops_every_process(tmp_path):
    port = free_port()
    log = (tmp_path / "run.log").open("w")  # a file, not a pipe: nothing blocks on a full pipe
    env = {
        **os.environ,
        "DATABASE_URL": suite_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "PORT": str(port),
    }
    runner = subprocess.Popen(
        [sys.executable, "-c", "import sys; from ticketing.runner import run; sys.exit(run())"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while get(f"{base}/readyz") != 200:
            assert runner.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, "the web server did not become ready"
            time.sleep(0.2)
        for path in ("/healthz", "/api/events/", "/admin/login/", "/static/admin/css/base.css"):
            assert get(base + path) == 200, path
        # Worker and beat are up too: each has a process tree under the runner.
        deadline = time.monotonic() + 30
        while True:
            children = psutil.Process(runner.pid).children(recursive=True)
            commands = [" ".join(p.cmdline()) for p in children if p.is_running()]
            if all(any(part in c for c in commands) for part in ("uvicorn", "worker", "beat")):
                break
            assert time.monotonic() < deadline, commands
            time.sleep(0.2)
        # One metrics directory for all of them, which /metrics reads.
        served = [p for p in children if p.is_running() and ("uvicorn" in p.cmdline() or "celery" in p.cmdline())]
        metrics_dirs = {p.environ().get("PROMETHEUS_MULTIPROC_DIR") for p in served}
        assert len(served) >= 4, [p.cmdline() for p in children]
        assert len(metrics_dirs) == 1 and None not in metrics_dirs, metrics_dirs
        metrics_path = Path(metrics_dirs.pop())
        assert any(metrics_path.glob("*.db"))
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:  # noqa: S310 - a local URL
            assert b"ticketing_http_request_duration_seconds_bucket{" in response.read()
        # The runner polls /readyz on its own clock: give its announcement a moment to follow ours.
        deadline = time.monotonic() + 10
        while f"open http://127.0.0.1:{port}/" not in (tmp_path / "run.log").read_text():
            assert time.monotonic() < deadline, "the runner never said where to go"
            time.sleep(0.2)

        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
        log.close()
    output = (tmp_path / "run.log").read_text()

    assert runner.returncode == 0, output
    assert "SIGINT received" in output
    assert f"open http://127.0.0.1:{port}/" in output
    assert "python3 dev.py manage demo" in output
    left = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], [p.cmdline() for p in left]
    assert get(f"{base}/healthz") == 0
    assert not metrics_path.exists()  # the run's temporary metrics directory went with it
