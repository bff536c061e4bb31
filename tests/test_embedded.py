"""The embedded default: a real PostgreSQL and a real Redis from wheels,
started under a data folder (a temporary one here), found again by a second
start, and stopped cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from ticketing import embedded


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("embedded")
    yield path
    embedded.stop(path)


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            return conn.execute("SELECT current_database()").fetchone()[0] == embedded.DATABASE_NAME
    except psycopg.OperationalError:
        return False


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, retry_on_error=[], retry=None)
    try:
        client.set("embedded-test", "1")
        return client.get("embedded-test") == b"1"
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def test_start_serves_both_finds_them_again_and_stop_shuts_both_down(data_dir):
    servers = embedded.start(data_dir)

    assert servers.started == {"postgres", "redis"}
    assert servers.postgres_socket_dir.startswith(str(data_dir))
    assert postgres_answers(servers.database_url)
    assert redis_answers(servers.redis_url)

    again = embedded.start(data_dir)
    assert again == servers
    assert again.started == frozenset()

    embedded.stop(data_dir)

    assert not postgres_answers(servers.database_url)
    assert not redis_answers(servers.redis_url)
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


def test_serving_exports_the_urls_and_stops_only_what_it_started(data_dir, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)

    with embedded.serving(data_dir) as env:
        assert set(env) == {"DATABASE_URL", "REDIS_URL"}
        assert postgres_answers(env["DATABASE_URL"])
        assert redis_answers(env["REDIS_URL"])
        # Already running: a nested user must leave them up for the outer one.
        with embedded.serving(data_dir) as inner:
            assert inner == env
        assert postgres_answers(env["DATABASE_URL"])
        assert redis_answers(env["REDIS_URL"])

    assert not postgres_answers(env["DATABASE_URL"])
    assert not redis_answers(env["REDIS_URL"])


def test_serving_with_both_urls_set_starts_nothing(data_dir, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://elsewhere/db")
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere:6379/0")

    with embedded.serving(data_dir) as env:
        assert env == {}
        assert not (data_dir / "redis" / "redis.pid").exists()
