"""Scratch space on the real PostgreSQL and Redis of the machine (STACK.md): a database made for one test and
dropped after, a key prefix deleted after, and a private redis-server to kill. Their URLs carry a password-looking
part, which trust auth (PostgreSQL) and the nopass default user (Redis) ignore, so tests can prove it never shows.

DAGWRIGHT_TEST_PG_PREFIX, DAGWRIGHT_TEST_REDIS_URL and DAGWRIGHT_TEST_PORTS (e.g. 18100-18199) let machines
shared by several sessions keep each session's databases, Redis db and ports apart."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_SECRET = "pg-Secret-7f3a9c"
REDIS_SECRET = "redis-Secret-2b4d8e"


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as db:
        db.execute(sql)


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A new database on the system PostgreSQL; its DSN, with a password trust auth ignores."""
    name = f"{os.environ.get('DAGWRIGHT_TEST_PG_PREFIX', 'dw_test_')}{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres:{PG_SECRET}@127.0.0.1:5432/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_url(port: int | None = None) -> str:
    """The test Redis (or a private one on ``port``) as the default user with a password it ignores."""
    base = urlsplit(os.environ.get("DAGWRIGHT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    host = f"127.0.0.1:{port}" if port else base.netloc.rsplit("@", 1)[-1]
    return f"redis://default:{REDIS_SECRET}@{host}{base.path or '/0'}"


@contextlib.contextmanager
def redis_prefix(url: str | None = None) -> Iterator[str]:
    """A key prefix of its own; every key under it is deleted after."""
    import redis

    prefix = f"dagwright-test:{uuid.uuid4().hex[:10]}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(url or redis_url())
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def private_port() -> int:
    """A port nothing listens on, from DAGWRIGHT_TEST_PORTS when given."""
    low, _, high = os.environ.get("DAGWRIGHT_TEST_PORTS", "").partition("-")
    candidates = range(int(low), int(high) + 1) if high else [0]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port in DAGWRIGHT_TEST_PORTS")


@contextlib.contextmanager
def private_redis(port: int) -> Iterator[int]:
    """A redis-server of this test's own on ``port`` (no persistence); its pid. Killed at the end if alive."""
    pid_file = Path(f"/tmp/dagwright-test-redis-{port}.pid")
    pid_file.unlink(missing_ok=True)  # a killed server leaves its own: never mistake it for this one's
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    subprocess.run(
        ["redis-server", *options, "--daemonize", "yes", "--pidfile", str(pid_file)], check=True, capture_output=True
    )
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    try:
        yield pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
        pid_file.unlink(missing_ok=True)
