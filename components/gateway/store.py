"""SQLite files of the gateway under the state directory: one connection per thread (sqlite3 connections stay
in their thread), WAL so readers never wait on a writer, and a 30 s busy timeout so many processes can share
one file."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3


class SqliteFile:
    def __init__(self, path: Path, schema: str) -> None:
        self.path, self.schema = path, schema
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
            self._local.db = db
        return db
