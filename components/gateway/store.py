"""The databases of the gateway's records (usage, budgets) and SQLite caches: one connection per thread each.

SQLite files live under the state directory: WAL so readers never wait on a writer, and a 30 s busy timeout so
many processes can share one file. PostgreSQL (`usage_dsn`) is for records that many hosts share; its schema is
created under an advisory lock, as concurrent `CREATE TABLE IF NOT EXISTS` can still collide in its catalog.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

    import psycopg

# Runs one statement written with `?` placeholders in a transaction; its cursor (fetchone, iteration).
Execute = Callable[[str, tuple[Any, ...]], Any]
_SCHEMA_LOCK = 0x6477_6C6C_6D  # "dwllm": any constant that other users of the database are unlikely to take


class SqliteFile:
    def __init__(self, path: Path, schema: str, *, added: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """``added``: table -> {column: definition} of columns newer than the table, added to older files."""
        self.path, self.schema, self.added = path, schema, added or {}
        self._local = threading.local()

    def db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            import sqlite3  # here, not at the top: `dagwright validate` never needs it

            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE where a read decides a write).
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(self.schema)
            self._add_columns(db)
            self._local.db = db
        return db

    def _add_columns(self, db: sqlite3.Connection) -> None:
        import sqlite3

        for table, columns in self.added.items():
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            for name, definition in columns.items():
                if name not in have:
                    try:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")
                    except sqlite3.OperationalError as exc:  # another process added it first
                        if "duplicate column" not in str(exc):
                            raise

    def execute(self, sql: str, values: tuple[Any, ...] = ()) -> Any:
        return self.db().execute(sql, values)

    def close(self) -> None:
        """Close this thread's connection (others close with their thread)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @contextmanager
    def transaction(self, locks: Sequence[str] = ()) -> Iterator[Execute]:
        """A write transaction from its start: BEGIN IMMEDIATE takes the file's write lock (for every name in
        ``locks`` at once), so what it reads cannot change before it commits."""
        db = self.db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db.execute
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


class PostgresDb:
    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn, self.schema = dsn, schema
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[psycopg.Connection] = []  # every thread's, to close

    def db(self) -> psycopg.Connection:
        db = getattr(self._local, "db", None)
        if db is None or db.closed or db.broken:  # a server restart breaks it: connect again
            import psycopg

            db = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                db.execute(self.schema)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def execute(self, sql: str, values: tuple[Any, ...] = ()) -> Any:
        return self.db().execute(sql.replace("?", "%s"), values)

    @contextmanager
    def transaction(self, locks: Sequence[str] = ()) -> Iterator[Execute]:
        """A transaction that first takes a transaction-level advisory lock per name in ``locks``, in sorted
        order (two callers locking overlapping sets cannot deadlock); they are released at commit."""
        db = self.db()
        with db.transaction():
            for name in sorted(set(locks)):
                db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,))
            yield lambda sql, values: db.execute(sql.replace("?", "%s"), values)

    def close(self) -> None:
        with self._lock:
            every, self._all = self._all, []
        for db in every:
            db.close()
