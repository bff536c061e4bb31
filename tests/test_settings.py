"""Settings come from the environment (12-factor); each case runs in a fresh
interpreter so the module reads exactly the environment given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = """
import json, django
django.setup()
from django.conf import settings as s
db = s.DATABASES["default"]
print(json.dumps({
    "db": [db["ENGINE"], db["HOST"], db["PORT"], db["NAME"], db["USER"], db["PASSWORD"],
           "pool" in db.get("OPTIONS", {})],
    "redis": s.REDIS_URL,
    "cache": s.CACHES["default"]["LOCATION"],
    "channels": s.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"],
    "broker": s.CELERY_BROKER_URL,
    "debug": s.DEBUG,
    "hosts": s.ALLOWED_HOSTS,
    "secret": s.SECRET_KEY,
    "ssl_redirect": s.SECURE_SSL_REDIRECT,
}))
"""


def settings_under(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "REDIS_DB", "DEBUG"}}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "ticketing.settings", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_setting_comes_from_the_environment():
    got = settings_under(
        DATABASE_URL="postgres://shop:pw@db.example:6543/tickets",
        REDIS_URL="redis://cache.example:6380/2",
        SECRET_KEY="from-the-environment",
        DEBUG="1",
        ALLOWED_HOSTS="tickets.example,www.tickets.example",
    )

    assert got["db"] == ["django.db.backends.postgresql", "db.example", 6543, "tickets", "shop", "pw", True]
    # One Redis for everything: cache, queue, channel layer and Celery broker.
    assert got["redis"] == got["cache"] == got["channels"] == got["broker"] == "redis://cache.example:6380/2"
    assert got["debug"] is True
    assert got["hosts"] == ["tickets.example", "www.tickets.example"]
    assert got["secret"] == "from-the-environment"
    assert got["ssl_redirect"] is False


def test_redis_db_moves_every_redis_user_and_a_socket_dir_host_is_decoded():
    got = settings_under(
        DATABASE_URL="postgres://postgres@%2Fsrv%2Fpg-socket:5432/ticketing",
        REDIS_URL="redis://127.0.0.1:6379/0",
        REDIS_DB="9",
    )

    assert got["db"][1:4] == ["/srv/pg-socket", 5432, "ticketing"]
    assert got["redis"] == got["cache"] == got["channels"] == got["broker"] == "redis://127.0.0.1:6379/9"
    assert got["debug"] is False


def test_the_suite_runs_on_the_test_settings():
    """``dev.py test`` imports the project before starting pytest; the test
    settings (own Redis db, no pool, fast hasher) must still win."""
    from django.conf import settings

    assert settings.SETTINGS_MODULE == "ticketing.settings_test"
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]
