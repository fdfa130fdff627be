"""`dagwright usage` over the gateway's usage records."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from components.gateway.usage import UsageRecord, open_usage_store
from flows.cli.main import main

PIPELINES = """
pipelines:
  p:
    stages:
      s: {uses: python.call, with: {function: "json:dumps"}, inputs: {obj: 1}}
"""


def records(now: float) -> list[UsageRecord]:
    ok = dict(prompt="rag-answer@1", model="smollm2", provider="local", pipeline="rag-query", run_id="r1")
    made = [
        UsageRecord(
            **ok, outcome="ok", cache="miss", tokens_in=100, tokens_out=20, latency_ms=ms, cost_usd=0.001, at=now - 60
        )
        for ms in range(100, 2100, 100)
    ]  # 20 model calls
    paid = {"tokens_in": 100, "tokens_out": 20, "cost_usd": 0.001}
    made[0] = UsageRecord(**ok, outcome="ok", cache="miss", latency_ms=100, ttft_ms=40, at=now - 60, **paid)  # streamed
    made[1] = UsageRecord(**ok, outcome="ok", cache="miss", latency_ms=200, ttft_ms=60, at=now - 60, **paid)
    made.append(UsageRecord(**ok, outcome="ok", cache="exact", latency_ms=1, at=now - 30))
    made.append(
        UsageRecord(
            **{**ok, "provider": "openai", "model": "gpt-4o-mini"},
            outcome="ok",
            cache="miss",
            fallback=True,
            tokens_in=50,
            tokens_out=5,
            latency_ms=900,
            cost_usd=0.01,
            at=now - 20,
        )
    )
    made.append(UsageRecord(**ok, outcome="refused", error="BudgetExceeded: ...", at=now - 10))
    made.append(UsageRecord(**ok, outcome="error", error="ProvidersFailed: ...", at=now - 5))
    made.append(UsageRecord(**ok, outcome="ok", tokens_in=999_999, at=now - 3 * 86400))  # outside --since 1d
    return made


def test_usage_sums_cost_tokens_rates_and_latency(
    write_pipelines, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_usage_store(None, isolated_home)
    for record in records(time.time()):
        store.record(record)
    file = write_pipelines(PIPELINES)
    assert main(["-f", str(file), "usage", "--since", "1d", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["calls"], summary["ok"], summary["errors"], summary["refused"]) == (24, 22, 1, 1)
    assert (summary["tokens_in"], summary["tokens_out"], summary["cost_usd"]) == (2050, 405, 0.03)
    assert summary["cache_hit_rate"] == round(1 / 22, 4)  # of the cacheable answers
    assert summary["fallback_rate"] == round(1 / 21, 4)  # of the model calls
    assert summary["error_rate"] == round(1 / 24, 4)
    assert summary["latency_ms"] == {"p50": 1000, "p95": 1900}  # nearest rank over 21 model calls
    assert summary["ttft_ms"] == {"p50": 40, "p95": 60}  # over the 2 streamed ones
    assert summary["by_model"]["gpt-4o-mini"] == {"calls": 1, "tokens_in": 50, "tokens_out": 5, "cost_usd": 0.01}

    assert main(["-f", str(file), "usage"]) == 0
    text = capsys.readouterr().out
    assert "calls 24: 22 ok, 1 errors, 1 refused" in text
    assert "cache hit rate 4.5%; error rate 4.2%; fallback rate 4.8%" in text
    assert "p50 1,000 ms, p95 1,900 ms; time to first token (streamed): p50 40 ms, p95 60 ms" in text
    assert "     rag-answer@1                       24      2,050        405     0.0300" in text

    assert main(["-f", str(file), "usage", "--since", "all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["calls"] == 25


def test_usage_without_records_and_a_bad_since(write_pipelines, capsys: pytest.CaptureFixture[str]) -> None:
    file = write_pipelines(PIPELINES)
    assert main(["-f", str(file), "usage"]) == 0
    assert "no calls recorded" in capsys.readouterr().out
    assert main(["-f", str(file), "usage", "--since", "yesterday"]) == 2
    assert "--since 'yesterday': expected a number and a unit (s, m, h, d), e.g. 1d or 12h, or all" in (
        capsys.readouterr().err
    )
