"""The exact cache: a reply reused when the same prompt (id and version), rendered messages, model and params
are asked again. Only for greedy decoding (temperature 0): a cached sample would be served as every sample.
Entries are JSON (text and usage), never pickles, so a tampered file can at worst serve wrong text, not run code.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from components.gateway.store import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    reply TEXT NOT NULL,
    at REAL NOT NULL
) WITHOUT ROWID;
"""


def cache_key(prompt: str, messages: list[dict[str, str]], model: str, params: dict[str, Any]) -> str:
    body = {"prompt": prompt, "messages": messages, "model": model, "params": params}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ExactCache:
    def __init__(self, path: Path) -> None:
        self.file = SqliteFile(path, _SCHEMA)

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.file.db().execute("SELECT reply FROM replies WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            reply = json.loads(row[0])
        except ValueError:  # a damaged entry is a miss, and is overwritten by the next answer
            return None
        return reply if isinstance(reply, dict) and isinstance(reply.get("text"), str) else None

    def put(self, key: str, reply: dict[str, Any]) -> None:
        self.file.db().execute(
            "INSERT OR REPLACE INTO replies (key, reply, at) VALUES (?, ?, ?)", (key, json.dumps(reply), time.time())
        )
