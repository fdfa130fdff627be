"""The semantic cache: a reply reused when a question that means the same is asked again in the same scope.

The scope is everything but the question's wording: prompt id and version, model, params, and the identity of
the context the prompt was rendered with (for RAG, a hash of the retrieved chunks), so the same question over
changed documents is a miss. Within a scope, a stored question answers a new one when both

- their MiniLM embeddings are at least `threshold` apart in cosine, and
- their content tokens (lower-cased words, numbers, identifiers and file extensions, stop words removed) are the
  same, in the same order: as sets, "convert a string to an integer" and "convert an integer to a string"
  would be one question.

Why the guard: cosine alone serves near misses. At 0.95, "How do I create a .pyc file?" and "... a .pyd file?"
score above it (bench/semantic_cache.py, tests/components/gateway/cases/semantic_pairs.yaml): peers shipped
exactly that (LiteLLM #12234). Equal content tokens cannot confuse Austria with Australia; they cost the hits
of paraphrases that change a content word ("remove" for "delete"), which then ask the model: a miss costs
seconds, a false hit a wrong answer.

Entries are JSON and float32 bytes, never pickles. Two backends with one interface (`SemanticCache`): a SQLite
file under the state directory (the default) and Redis (redis_caches.py); each keeps at most `max_entries`
questions per scope (the oldest go first) for at most `ttl`.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from components.gateway.cache import parse_reply
from components.gateway.store import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,
    question TEXT NOT NULL,
    tokens TEXT NOT NULL,
    vector BLOB NOT NULL,
    reply TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS questions_scope ON questions (scope);
"""

# Words that do not change what is asked: a question with or without them asks the same.
_STOP_WORDS = """a about am an and any are as at be been by can could did do does doing for from had has have how i
    if in into is it its me my of on or our please should so some tell that the their them then there these this
    those to us was way we were what when where which who whom why will with would you your"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
_CONTRACTIONS = (
    ("can't", "can not"),
    ("won't", "will not"),
    ("n't", " not"),
    ("'s", " is"),
    ("'re", " are"),
    ("'ve", " have"),
    ("'m", " am"),
    ("'ll", " will"),
)
_TOKEN = re.compile(r"\.?[a-z0-9_]+(?:[.+#\-][a-z0-9_]+)*[+#]*")


def content_tokens(question: str) -> tuple[str, ...]:
    """The question's content tokens, in order: "How do I create a .pyc file?" -> ("create", ".pyc", "file")."""
    text = question.lower().replace("\u2019", "'")
    for short, long in _CONTRACTIONS:
        text = text.replace(short, long)
    found = (t for t in _TOKEN.findall(text.replace("'", "")) if t not in STOP_WORDS)
    return tuple(_singular(t) for t in found)


def _singular(token: str) -> str:
    # "branches" and "branch" ask the same; a crude plural rule is enough for an equality check.
    if len(token) <= 3 or not token.isalpha() or not token.endswith("s") or token.endswith(("ss", "us", "os")):
        return token
    if token.endswith("ies"):
        return token[:-3] + "y"
    return token[:-2] if token.endswith(("ches", "shes", "xes")) else token[:-1]


def scope_key(prompt: str, model: str, params: dict[str, Any], context: str) -> str:
    body = {"prompt": prompt, "model": model, "params": params, "context": context}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class Match:
    question: str  # the stored question that answered
    similarity: float
    reply: dict[str, Any]


class SemanticCache(Protocol):
    def get(self, scope: str, question: str, vector: Any) -> Match | None: ...

    def put(self, scope: str, question: str, vector: Any, reply: dict[str, Any]) -> None: ...


# A stored entry as both backends read it: the question, its content tokens (JSON), float32 bytes, the reply (JSON).
Entry = tuple[str, str | bytes, bytes, str | bytes]


def best_match(entries: Iterable[Entry], question: str, vector: Any, threshold: float, guard: bool) -> Match | None:
    """The closest stored question that clears the threshold (and the guard), if any."""
    import numpy as np

    tokens = content_tokens(question)
    best: tuple[str, float, str | bytes] | None = None
    for stored, stored_tokens, blob, reply in entries:
        if guard and tuple(json.loads(stored_tokens)) != tokens:
            continue
        similarity = float(np.dot(np.frombuffer(blob, dtype="float32"), vector))
        if similarity >= threshold and (best is None or similarity > best[1]):
            best = (stored, similarity, reply)
    if best is None:
        return None
    found = parse_reply(best[2])
    return Match(best[0], best[1], found) if found is not None else None


class SqliteSemanticCache:
    def __init__(
        self, path: Path, threshold: float, *, guard: bool = True, max_entries: int = 10_000, ttl: float | None = None
    ) -> None:
        self.file = SqliteFile(path, _SCHEMA)
        self.threshold, self.guard, self.max_entries, self.ttl = threshold, guard, max_entries, ttl

    def _cutoff(self) -> float:
        return time.time() - self.ttl if self.ttl else 0.0

    def get(self, scope: str, question: str, vector: Any) -> Match | None:
        rows = self.file.db().execute(
            "SELECT question, tokens, vector, reply FROM questions WHERE scope = ? AND at >= ?", (scope, self._cutoff())
        )
        return best_match(rows, question, vector, self.threshold, self.guard)

    def put(self, scope: str, question: str, vector: Any, reply: dict[str, Any]) -> None:
        tokens = json.dumps(content_tokens(question))
        blob = vector.astype("float32").tobytes()
        db = self.file.db()
        db.execute(
            "INSERT INTO questions (scope, question, tokens, vector, reply, at) VALUES (?, ?, ?, ?, ?, ?)",
            (scope, question, tokens, blob, json.dumps(reply), time.time()),
        )
        # The scope's expired entries and those past its cap, oldest first (ids grow with time).
        db.execute(
            "DELETE FROM questions WHERE scope = ? AND (at < ? OR id NOT IN "
            "(SELECT id FROM questions WHERE scope = ? ORDER BY id DESC LIMIT ?))",
            (scope, self._cutoff(), scope, self.max_entries),
        )


class QuestionEmbedder:
    """MiniLM (the offline `embedding.onnx` model) for questions, opened on first use: a gateway without a
    semantic cache, or one never asked a cacheable question, loads no model."""

    def __init__(self, threads: int = 1) -> None:
        self.threads, self.session = threads, None
        self._lock = threading.Lock()

    def vector(self, text: str) -> Any:
        """The question's L2-normalized float32 vector."""
        import numpy as np

        from components.embedders import minilm_embed, minilm_session

        with self._lock:
            if self.session is None:
                self.session = minilm_session(self.threads)
            raw = minilm_embed([text], 1, self.session)[0]
        return (raw / max(float(np.linalg.norm(raw)), 1e-12)).astype("float32")
