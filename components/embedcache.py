"""Embeddings cached by model + text hash, in SQLite, so re-ingesting unchanged text never re-embeds it.

WAL mode lets a query process read while an ingest process writes. Vectors are float32 bytes.

The cache only saves time, so it never fails a run (issue 8: on a full state folder, two embedding passes of
223 s were thrown away because the cache write failed): a cache that cannot be read or written is skipped, with
one warning that names the file and the cause.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

log = logging.getLogger("dagwright.embeddings")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, text_hash)
) WITHOUT ROWID
"""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class EmbeddingCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()  # sqlite connections must stay in their thread
        self._warned = False

    def _skip(self, doing: str, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("embedding cache %s: could not %s (%s); embedding without it", self.path, doing, exc)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            import sqlite3  # here, not at the top: ~4 ms of every `dagwright validate` (issue 7)

            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            self._local.db = db
        return db

    def get_many(self, model: str, hashes: list[str]) -> dict[str, bytes]:
        import sqlite3

        try:
            return self._get_many(model, hashes)
        except (sqlite3.Error, OSError) as exc:
            self._skip("read", exc)
            return {}

    def _get_many(self, model: str, hashes: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        db = self._db()
        for start in range(0, len(hashes), 500):  # SQLite caps the number of bound parameters
            part = hashes[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = db.execute(
                f"SELECT text_hash, vector FROM vectors WHERE model = ? AND text_hash IN ({marks})", [model, *part]
            )
            found.update(rows.fetchall())
        return found

    def put_many(self, model: str, items: Iterable[tuple[str, Any]]) -> None:
        import sqlite3

        try:
            self._put_many(model, items)
        except (sqlite3.Error, OSError) as exc:
            self._skip("write", exc)

    def _put_many(self, model: str, items: Iterable[tuple[str, Any]]) -> None:
        db = self._db()
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO vectors (model, text_hash, vector) VALUES (?, ?, ?)",
                [(model, h, vector.astype("float32").tobytes()) for h, vector in items],
            )
