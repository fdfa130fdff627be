"""The LLM gateway's backends (issue 10): what an exact hit and a budget reservation cost on the default SQLite
files against Redis (caches) and PostgreSQL (records and budgets), through `LlmGateway.reply` against a scripted
OpenAI-compatible server on loopback (tests/helpers/chatserver.py), so the model's time does not drown them.

Uses the machine's PostgreSQL (a scratch database, dropped after) and Redis (a key prefix, deleted after); see
tests/helpers/services.py for the variables that choose them.

    .venv/bin/python bench/gateway_backends.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ASK = [{"role": "user", "content": "What is in the notes?"}]


def median_ms(call: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(name: str, settings: dict[str, Any], model_url: str, state: Path) -> None:
    from components.gateway.resource import LlmGateway
    from components.resources import opened
    from components.runinfo import RunInfo, running

    providers = {"p0": {"kind": "openai", "base_url": model_url, "model": "m0"}}
    gw = opened(LlmGateway, root=state, state_dir=state / name, providers=providers, route=["p0"], **settings)
    run = RunInfo("bench", endpoint="/v1/chat/completions", key_id="a1b2c3d4e5f6")
    with running(run):
        gw.reply(ASK, temperature=0, max_tokens=5)
        hit = median_ms(lambda: gw.reply(ASK, temperature=0, max_tokens=5), 300)
        miss = median_ms(lambda: gw.reply(ASK, temperature=0.5, max_tokens=5), 100)
        hold = median_ms(lambda: gw.ledger.settle(gw.ledger.reserve(run, 10, 0.0), 5, 0.0), 300)
    gw.close()
    print(
        f"{name:<16} exact hit {hit:6.2f} ms   scripted model call {miss:6.2f} ms   "
        f"reserve + settle in 2 scopes {hold:6.2f} ms   (medians; hits and calls include writing their usage record)"
    )


def main() -> None:
    from tests.helpers.chatserver import OK, chat_server
    from tests.helpers.services import redis_prefix, redis_url, scratch_database

    budgets = {"daily_tokens": {"*": 10**12}, "per_key": {"daily_tokens": {"*": 10**12}}}
    with chat_server(OK) as (url, _), redis_prefix() as prefix, scratch_database() as dsn:
        state = Path(tempfile.mkdtemp())
        measure("sqlite", {"budgets": budgets}, url, state)
        shared = {"budgets": budgets, "redis_url": redis_url(), "usage_dsn": dsn, "cache": {"prefix": prefix}}
        measure("redis+postgres", shared, url, state)


if __name__ == "__main__":
    main()
