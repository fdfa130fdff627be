"""The exact cache: a reply reused when the same prompt (id and version), rendered messages, model and params
are asked again. Only for greedy decoding (temperature 0): a cached sample would be served as every sample.
Entries are JSON (text and usage), never pickles, so a tampered store can at worst serve wrong text, not run code.

Two backends with one interface (`ExactCache`): a SQLite file under the state directory (the default) and Redis
(redis_caches.py). Entries never go stale, as the key holds everything the answer depends on; `ttl` only bounds
the space they take.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Protocol

from components.gateway.store import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    reply TEXT NOT NULL,
    at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS replies_at ON replies (at);
"""


def cache_key(prompt: str, messages: list[dict[str, str]], model: str, params: dict[str, Any]) -> str:
    body = {"prompt": prompt, "messages": messages, "model": model, "params": params}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def parse_reply(text: str | bytes | None) -> dict[str, Any] | None:
    """A stored reply, or None for a damaged one (a miss, overwritten by the next answer)."""
    if text is None:
        return None
    try:
        reply = json.loads(text)
    except ValueError:
        return None
    return reply if isinstance(reply, dict) and isinstance(reply.get("text"), str) else None


class ExactCache(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, reply: dict[str, Any]) -> None: ...


class SqliteExactCache:
    def __init__(self, path: Path, ttl: float | None = None) -> None:
        self.file, self.ttl = SqliteFile(path, _SCHEMA), ttl

    def _cutoff(self) -> float:
        return time.time() - self.ttl if self.ttl else 0.0

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.file.db().execute("SELECT reply FROM replies WHERE key = ? AND at >= ?", (key, self._cutoff()))
        found = row.fetchone()
        return parse_reply(found[0]) if found else None

    def put(self, key: str, reply: dict[str, Any]) -> None:
        db = self.file.db()
        db.execute(
            "INSERT OR REPLACE INTO replies (key, reply, at) VALUES (?, ?, ?)", (key, json.dumps(reply), time.time())
        )
        if self.ttl:
            db.execute("DELETE FROM replies WHERE at < ?", (self._cutoff(),))
