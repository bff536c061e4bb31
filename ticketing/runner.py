"""``python3 dev.py run``: the whole product in one terminal.

Starts the embedded PostgreSQL and Redis when ``DATABASE_URL`` / ``REDIS_URL``
are not set, applies migrations, collects static files, then runs the ASGI
server, a Celery worker per task queue and Celery beat side by side under honcho (one
prefixed, coloured log), sharing one ``PROMETHEUS_MULTIPROC_DIR`` (made empty
for the run, a temporary one removed afterwards unless the variable is set). Ctrl-C (SIGINT) or SIGTERM stops the
children, then the embedded servers this run started (never ones that
were already running: whoever started those stops them).

Deliberately free of Django imports: the children read the settings, this
process only supervises them.
"""

from __future__ import annotations

import os
import sys
import threading
import urllib.request
from pathlib import Path
from subprocess import CalledProcessError
from subprocess import run as run_process

from honcho.manager import Manager

from ticketing import embedded
from ticketing.metrics_dir import ENV_NAME as METRICS_DIR_ENV
from ticketing.metrics_dir import metrics_dir

ROOT = Path(__file__).resolve().parent.parent
BEAT_SCHEDULE = ROOT / ".data" / "celerybeat-schedule"


def process_commands(port: str) -> dict[str, str]:
    """The long-running processes, by log prefix."""
    python = sys.executable
    return {
        # No WebSocket compression: permessage-deflate roughly doubles the
        # memory held per open socket, and the waiting page keeps many open.
        "web": (
            f"exec {python} -m uvicorn ticketing.asgi:application --host 127.0.0.1 --port {port}"
            " --workers 2 --ws-per-message-deflate false --no-proxy-headers"
        ),
        # One worker per task queue: a mail server that hangs cannot delay an admission round.
        "worker": f"exec {python} -m celery -A ticketing worker -Q booking -n booking@%h --loglevel INFO",
        "mailer": f"exec {python} -m celery -A ticketing worker -Q mail -n mail@%h -c 2 --loglevel INFO",
        "beat": f"exec {python} -m celery -A ticketing beat --loglevel INFO --schedule {BEAT_SCHEDULE}",
    }


def _manage(env: dict[str, str], *args: str) -> None:
    run_process([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True)


def _announce_when_ready(url: str, stop: threading.Event) -> None:
    """Print where to go once the web server answers ``/readyz``."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"{url}readyz", timeout=1) as response:  # noqa: S310 - our own local URL
                if response.status == 200:
                    break
        except OSError:
            pass
        stop.wait(0.3)
    else:
        return
    print(
        f"\n  Ticketing is up: open {url}  (admin: {url}admin/)\n"
        "  Demo data and an admin login: python3 dev.py manage demo\n"
        "  Stop everything with Ctrl-C.\n",
        flush=True,
    )


def run() -> int:
    """Run web, worker and beat until Ctrl-C; return the exit status."""
    port = os.environ.get("PORT", "8000")
    url = f"http://127.0.0.1:{port}/"
    data_dir = embedded.data_dir_from_env()
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        print(f"Starting the embedded PostgreSQL and Redis (data in {data_dir}) ...", flush=True)
    try:
        with embedded.serving(data_dir) as extra_env:
            env = {**os.environ, **extra_env, "PYTHONUNBUFFERED": "1"}
            print("Applying migrations ...", flush=True)
            _manage(env, "migrate", "--noinput")
            _manage(env, "collectstatic", "--noinput", "--verbosity", "0")
            BEAT_SCHEDULE.parent.mkdir(exist_ok=True)
            manager = Manager()
            # One metrics directory for every process of the run: /metrics adds them up.
            with metrics_dir(os.environ.get(METRICS_DIR_ENV)) as metrics_path:
                for name, command in process_commands(port).items():
                    manager.add_process(name, command, env={**env, METRICS_DIR_ENV: metrics_path}, cwd=str(ROOT))
                ready = threading.Event()
                threading.Thread(target=_announce_when_ready, args=(url, ready), daemon=True).start()
                try:
                    manager.loop()
                finally:
                    ready.set()
    except KeyboardInterrupt:  # Ctrl-C before the processes started
        return 130
    except CalledProcessError as exc:
        print(f"{' '.join(exc.cmd[1:])} failed (exit status {exc.returncode}).", file=sys.stderr, flush=True)
        return exc.returncode
    # Ctrl-C / SIGTERM is the normal way out (honcho reports 130 / 143); a
    # child that died by itself (a taken port, say) passes on its status.
    return 0 if manager.returncode in (None, 130, 143) else manager.returncode
