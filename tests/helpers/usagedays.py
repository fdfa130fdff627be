"""A simulated day of LLM gateway calls, for the usage report's charts: a working day's shape (quiet nights, a
busy afternoon), cache hits, a fallback to a paid model, a few errors and budget refusals. Deterministic."""

from __future__ import annotations

import random

from components.gateway.usage import UsageRecord

# Calls in each hour of the day, 00:00 to 23:00 UTC.
SHAPE = [1, 0, 0, 0, 1, 2, 4, 8, 14, 18, 16, 12, 10, 15, 20, 22, 17, 12, 8, 5, 3, 2, 1, 1]


def simulated_day(end: float, seed: int = 10) -> list[UsageRecord]:
    """Records of the 24 hours before ``end``, oldest first."""
    rng = random.Random(seed)
    made = []
    for hours_ago, calls in enumerate(reversed(SHAPE)):
        for _ in range(calls):
            at = end - hours_ago * 3600 - rng.uniform(1, 3599)
            made.append(_call(rng, at))
    return sorted(made, key=lambda r: r.at)


def _call(rng: random.Random, at: float) -> UsageRecord:
    base = {"prompt": "rag-answer@1", "pipeline": "rag-query", "run_id": f"r{int(at)}", "stage": "generate", "at": at}
    roll = rng.random()
    if roll < 0.03:
        return UsageRecord(**base, model="", provider="", outcome="error", error="ProvidersFailed: ...")
    if roll < 0.05:
        return UsageRecord(**base, model="smollm2-135m-instruct", provider="local", outcome="refused")
    if roll < 0.30:
        return UsageRecord(**base, model="smollm2-135m-instruct", provider="local", outcome="ok", cache="exact")
    if roll < 0.38:  # the local server was down: the paid fallback answered
        tokens_in, tokens_out = rng.randint(600, 900), rng.randint(40, 120)
        cost = (tokens_in * 0.00015 + tokens_out * 0.0006) / 1000
        return UsageRecord(
            **base,
            model="gpt-4o-mini",
            provider="openai",
            outcome="ok",
            cache="miss",
            fallback=True,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_ms=rng.uniform(700, 1600),
            cost_usd=round(cost, 6),
        )
    streamed = rng.random() < 0.5
    return UsageRecord(
        **base,
        model="smollm2-135m-instruct",
        provider="local",
        outcome="ok",
        cache="miss",
        tokens_in=rng.randint(500, 900),
        tokens_out=rng.randint(20, 120),
        latency_ms=rng.uniform(900, 3500),
        ttft_ms=rng.uniform(150, 900) if streamed else None,
    )
