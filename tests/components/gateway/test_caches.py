"""Both cache backends keep the same promises: a TTL expires entries, the semantic cache keeps at most
`max_entries` per scope (the oldest go first), scopes do not share entries, and what is stored is JSON and float32
bytes. SQLite runs in the unit tier; Redis (the test Redis, a key prefix of its own) in the integration tier."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from components.gateway.cache import SqliteExactCache
from components.gateway.semantic import SqliteSemanticCache

Make = Callable[..., tuple[Any, Any]]  # (ttl, max_entries) -> (exact cache, semantic cache)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.integration)])
def caches(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Make]:
    if request.param == "sqlite":
        yield lambda ttl=None, max_entries=10: (
            SqliteExactCache(tmp_path / "exact.sqlite", ttl),
            SqliteSemanticCache(tmp_path / "semantic.sqlite", 0.95, max_entries=max_entries, ttl=ttl),
        )
        return
    from components.gateway.redis_caches import RedisExactCache, RedisSemanticCache, connect
    from tests.helpers.services import redis_prefix, redis_url

    client = connect(redis_url())
    with redis_prefix() as prefix:
        yield lambda ttl=None, max_entries=10: (
            RedisExactCache(client, prefix, ttl),
            RedisSemanticCache(client, prefix, 0.95, max_entries=max_entries, ttl=ttl),
        )
    client.close()


def unit(seed: int) -> Any:
    vector = np.random.default_rng(seed).normal(size=384).astype("float32")
    return vector / np.linalg.norm(vector)


REPLY = {"text": "an answer", "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


def test_an_entry_is_served_until_its_ttl(caches: Make) -> None:
    exact, semantic = caches(ttl=1.0)
    exact.put("k", REPLY)
    semantic.put("scope", "Where do secrets live?", unit(1), REPLY)
    assert exact.get("k") == REPLY
    assert semantic.get("scope", "Where do secrets live?", unit(1)).reply == REPLY
    time.sleep(1.1)
    assert exact.get("k") is None
    assert semantic.get("scope", "Where do secrets live?", unit(1)) is None


def test_the_semantic_cache_keeps_max_entries_per_scope_evicting_the_oldest(caches: Make) -> None:
    _, semantic = caches(max_entries=2)
    questions = ["What is alpha?", "What is beta?", "What is gamma?"]
    for n, question in enumerate(questions):
        semantic.put("scope", question, unit(n), {"text": question})
        semantic.put("other", question, unit(n), {"text": question})  # another scope, its own cap
    assert semantic.get("scope", questions[0], unit(0)) is None
    assert [semantic.get("scope", q, unit(n)).reply["text"] for n, q in enumerate(questions[1:], 1)] == questions[1:]
    assert semantic.get("other", questions[2], unit(2)).reply["text"] == questions[2]
    assert semantic.get("nowhere", questions[2], unit(2)) is None


def test_a_different_question_or_vector_misses(caches: Make) -> None:
    _, semantic = caches()
    semantic.put("scope", "How do I create a .pyc file?", unit(1), REPLY)
    assert semantic.get("scope", "How do I create a .pyd file?", unit(1)) is None  # the guard: other tokens
    assert semantic.get("scope", "How do I create a .pyc file?", unit(2)) is None  # cosine far below 0.95
    assert semantic.get("scope", "How can I create a .pyc file?", unit(1)).similarity == pytest.approx(1.0)
