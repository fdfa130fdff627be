"""Rate limits per API key and per organisation: fixed one-minute windows, counted in Redis when configured (so
every server process shares them) and in memory otherwise.

A fixed window lets a burst of up to twice the limit straddle a window's edge; that is the price of one INCR per
check, and Retry-After tells a refused client exactly when its window ends.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Protocol

from flows.serve.problems import ProblemError

WINDOW = 60.0


class Counter(Protocol):
    async def hit(self, key: str, window: float) -> tuple[int, float]:
        """Count one request under ``key``: the count in the current window and the seconds left in it."""
        ...

    async def close(self) -> None: ...


class MemoryCounter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window number, count)

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        now = time.time()
        number = int(now // window)
        with self._lock:
            seen, count = self._counts.get(key, (number, 0))
            count = count + 1 if seen == number else 1
            self._counts[key] = (number, count)
            if len(self._counts) > 100_000:  # old windows' keys, dropped rather than grown without bound
                self._counts = {k: v for k, v in self._counts.items() if v[0] == number}
        return count, (number + 1) * window - now

    async def close(self) -> None:
        return None


class RedisCounter:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis: Any = redis.from_url(url)

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        now = time.time()
        number = int(now // window)
        name = f"dagwright:rate:{key}:{number}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, math.ceil(window) + 1)
            count, _ = await pipe.execute()
        return int(count), (number + 1) * window - now

    async def close(self) -> None:
        await self._redis.aclose()


class RateLimiter:
    def __init__(self, counter: Counter, key_rate: int, org_rate: int, window: float = WINDOW) -> None:
        self.counter, self.key_rate, self.org_rate, self.window = counter, key_rate, org_rate, window

    async def check(self, key_id: str, org: str) -> None:
        """Raise a 429 with Retry-After when the key or its organisation is over its limit."""
        for scope, name, limit in (("key", key_id, self.key_rate), ("org", org, self.org_rate)):
            if limit <= 0:
                continue
            count, left = await self.counter.hit(f"{scope}:{name}", self.window)
            if count > limit:
                retry = str(max(1, math.ceil(left)))
                detail = f"rate limit of the {'API key' if scope == 'key' else 'organisation'}: {limit} a minute"
                raise ProblemError(429, f"rate_limited_{scope}", detail, {"Retry-After": retry}, limit=limit)


def counter_for(redis_url: str | None) -> Counter:
    return RedisCounter(redis_url) if redis_url else MemoryCounter()
