#!/usr/bin/env python3
"""Developer entry point; needs nothing but Python 3.11+.

    python3 dev.py run     # the whole product: web (ASGI), Celery worker and beat
    python3 dev.py test    # the test suite (extra arguments go to pytest)
    python3 dev.py stop    # stop the embedded PostgreSQL and Redis
    python3 dev.py manage ARGS...   # manage.py inside the project's virtualenv

The first call creates ``.venv`` and installs ``requirements.txt``; later
calls reinstall only when that file changes. With no ``DATABASE_URL`` /
``REDIS_URL`` the embedded PostgreSQL and Redis start by themselves.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("VENV_DIR", ROOT / ".venv"))
VENV_PYTHON = VENV / "bin" / "python"
REQUIREMENTS = ROOT / "requirements.txt"
STAMP = VENV / ".requirements.sha256"


def ensure_venv() -> None:
    """Create the virtualenv and (re)install the pinned requirements when they changed."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if VENV_PYTHON.exists() and STAMP.exists() and STAMP.read_text() == digest:
        return
    if not VENV_PYTHON.exists():
        print(f"Creating virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("Installing pinned requirements ...", flush=True)
    subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(REQUIREMENTS)],
        check=True,
    )
    STAMP.write_text(digest)


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    ensure_venv()
    if not in_venv():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(ROOT / "dev.py"), *argv])
    os.chdir(ROOT)
    command, rest = argv[0], argv[1:]
    if command in {"test", "manage"}:
        # Taken before importing the project: its package (the Celery app)
        # sets DJANGO_SETTINGS_MODULE, which would beat pytest's test settings.
        environ = dict(os.environ)
        from ticketing import embedded

        # With no DATABASE_URL / REDIS_URL: the embedded servers, stopped
        # afterwards unless they were already running (e.g. under `run`).
        args = ["-m", "pytest", *rest] if command == "test" else ["manage.py", *rest]
        with embedded.serving() as extra_env:
            return subprocess.call([str(VENV_PYTHON), *args], env={**environ, **extra_env})
    if command == "stop":
        from ticketing import embedded

        embedded.stop()
        print("Embedded PostgreSQL and Redis stopped.")
        return 0
    if command == "run":
        from ticketing.runner import run

        return run()
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
