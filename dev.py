#!/usr/bin/env python3
"""Developer entry point; needs nothing but Python 3.11+.

    python3 dev.py run     # the whole product: web (ASGI), Celery worker and beat
    python3 dev.py test    # the test suite (extra arguments go to pytest)
    python3 dev.py stop    # stop the embedded PostgreSQL and Redis
    python3 dev.py manage ARGS...   # manage.py inside the project's virtualenv

The first call creates ``.venv`` and installs ``requirements.txt``; later
calls reinstall only when that file changes. Each compiles the translation
catalogues (``locale/*/LC_MESSAGES/*.po`` to ``.mo``, with Babel) where a
``.mo`` is missing or stale. With no ``DATABASE_URL`` /
``REDIS_URL`` the embedded PostgreSQL and Redis start by themselves.

The browser tests drive Chromium: Debian's (``CHROMIUM_PATH``, default
``/usr/bin/chromium``), else Playwright's own (``playwright install
chromium``). Where neither can be had, ``test`` runs everything else and
says so in its last line; under ``CI=true`` nothing is ever skipped.
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
DEBIAN_CHROMIUM = "/usr/bin/chromium"
BROWSER_HINT = "apt-get install -y chromium  (or: .venv/bin/python -m playwright install chromium)"
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


def chromium_for_tests() -> str | None:
    """A Chromium the browser tests can drive: ``CHROMIUM_PATH`` or Debian's,
    else Playwright's own (installed now if it can be downloaded); None when
    there is none."""
    configured = os.environ.get("CHROMIUM_PATH", DEBIAN_CHROMIUM)
    if Path(configured).is_file():
        return configured
    try:
        installed = subprocess.call(
            [str(VENV_PYTHON), "-m", "playwright", "install", "chromium"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        return None
    if installed != 0:
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        path = playwright.chromium.executable_path
    return path if Path(path).is_file() else None


def run_tests(rest: list[str], env: dict[str, str]) -> int:
    """pytest; without a Chromium (and not under CI) the browser tests are
    left out, and the last line says so and how to have them."""
    chromium = chromium_for_tests()
    if chromium is not None:
        return subprocess.call([str(VENV_PYTHON), "-m", "pytest", *rest], env={**env, "CHROMIUM_PATH": chromium})
    if env.get("CI", "").lower() == "true":
        return subprocess.call([str(VENV_PYTHON), "-m", "pytest", *rest], env=env)  # fails loudly: nothing skipped
    code = subprocess.call([str(VENV_PYTHON), "-m", "pytest", "-m", "not browser", *rest], env=env)
    print(f"Browser tests skipped: no Chromium found. To run them: {BROWSER_HINT}", flush=True)
    return code


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    ensure_venv()
    if not in_venv():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(ROOT / "dev.py"), *argv])
    os.chdir(ROOT)
    command, rest = argv[0], argv[1:]
    if command in {"test", "manage", "run"}:
        from core.translations import catalogues_compile

        catalogues_compile()  # locale/*/*.po -> .mo in pure Python (no GNU msgfmt needed)
    if command in {"test", "manage"}:
        # Taken before importing the project: its package (the Celery app)
        # sets DJANGO_SETTINGS_MODULE, which would beat pytest's test settings.
        environ = dict(os.environ)
        from ticketing import embedded

        # With no DATABASE_URL / REDIS_URL: the embedded servers, stopped
        # afterwards unless they were already running (e.g. under `run`).
        with embedded.serving() as extra_env:
            if command == "test":
                return run_tests(rest, {**environ, **extra_env})
            return subprocess.call([str(VENV_PYTHON), "manage.py", *rest], env={**environ, **extra_env})
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
