"""The exact and semantic caches in Redis, so that every gateway process (each `dagwright serve` worker, each
flow run) shares one cache. Same interfaces as the SQLite backends (cache.py, semantic.py).

Values are JSON and float32 bytes, never pickles. Keys start with the settings' `prefix` (`dagwright:llm:`):

- `{prefix}exact:<key>`: the reply, JSON, expiring after `ttl`;
- per semantic scope, four keys under one hash tag (one cluster slot, so the put script may touch them all):
  `…sem:{<scope>}:ids` a sorted set of entry ids by time, `…:meta` id -> JSON question, tokens and reply,
  `…:vec` id -> the float32 vector, `…:seq` the id counter. A put adds an entry, then drops the scope's expired
  entries and those past `max_entries` (oldest first), in one script, so concurrent writers cannot overfill it.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from components.gateway.cache import parse_reply
from components.gateway.semantic import Match, best_match, content_tokens

if TYPE_CHECKING:
    import redis

# KEYS: ids, meta, vec, seq. ARGV: now, meta JSON, vector bytes, max entries, expiry cutoff, ttl in ms (0: none).
_PUT = """
local id = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[1], ARGV[1], id)
redis.call('HSET', KEYS[2], id, ARGV[2])
redis.call('HSET', KEYS[3], id, ARGV[3])
local victims = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[5])
local over = redis.call('ZCARD', KEYS[1]) - #victims - tonumber(ARGV[4])
if over > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[1], #victims, #victims + over - 1)) do
    table.insert(victims, old)
  end
end
for _, old in ipairs(victims) do
  redis.call('ZREM', KEYS[1], old)
  redis.call('HDEL', KEYS[2], old)
  redis.call('HDEL', KEYS[3], old)
end
if tonumber(ARGV[6]) > 0 then
  for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[6]) end
end
return id
"""


def connect(url: str) -> redis.Redis:
    """A client that gives up fast: a cache that is down must cost a request little before the model answers.
    One retry without backoff, so a pooled connection that a Redis restart broke is made again."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0, retry=Retry(NoBackoff(), 1))


class RedisExactCache:
    def __init__(self, client: redis.Redis, prefix: str, ttl: float | None = None) -> None:
        self.client, self.prefix, self.ttl = client, prefix, ttl

    def get(self, key: str) -> dict[str, Any] | None:
        return parse_reply(self.client.get(f"{self.prefix}exact:{key}"))

    def put(self, key: str, reply: dict[str, Any]) -> None:
        ttl_ms = int(self.ttl * 1000) if self.ttl else None
        self.client.set(f"{self.prefix}exact:{key}", json.dumps(reply), px=ttl_ms)


class RedisSemanticCache:
    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        threshold: float,
        *,
        guard: bool = True,
        max_entries: int = 10_000,
        ttl: float | None = None,
    ) -> None:
        self.client, self.prefix = client, prefix
        self.threshold, self.guard, self.max_entries, self.ttl = threshold, guard, max_entries, ttl
        self._put = client.register_script(_PUT)

    def _keys(self, scope: str) -> list[str]:
        base = f"{self.prefix}sem:{{{scope}}}"
        return [f"{base}:ids", f"{base}:meta", f"{base}:vec", f"{base}:seq"]

    def _cutoff(self, now: float) -> float:
        return now - self.ttl if self.ttl else 0.0

    def get(self, scope: str, question: str, vector: Any) -> Match | None:
        ids_key, meta_key, vec_key, _ = self._keys(scope)
        ids: list[Any] = list(self.client.zrangebyscore(ids_key, self._cutoff(time.time()), "+inf"))
        if not ids:
            return None
        pipe = self.client.pipeline(transaction=False)
        pipe.hmget(meta_key, ids)
        pipe.hmget(vec_key, ids)
        metas, vectors = pipe.execute()
        entries = []
        for meta, blob in zip(metas, vectors, strict=True):
            if meta is None or blob is None:  # evicted between the two reads
                continue
            m = json.loads(meta)
            entries.append((m["question"], json.dumps(m["tokens"]), blob, json.dumps(m["reply"])))
        return best_match(entries, question, vector, self.threshold, self.guard)

    def put(self, scope: str, question: str, vector: Any, reply: dict[str, Any]) -> None:
        now = time.time()
        meta = json.dumps({"question": question, "tokens": content_tokens(question), "reply": reply})
        ttl_ms = int(self.ttl * 1000) if self.ttl else 0
        args = [now, meta, vector.astype("float32").tobytes(), self.max_entries, self._cutoff(now), ttl_ms]
        self._put(keys=self._keys(scope), args=args)
