"""The record of every call through the gateway, in SQLite under the state directory (`usage.sqlite`), and the
summary `dagwright usage` prints: cost and tokens by prompt, model and pipeline, cache hit rate, latency
percentiles, error and fallback rates."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from components.gateway.store import SqliteFile

Outcome = Literal["ok", "error", "refused"]
CacheOutcome = Literal["exact", "semantic", "miss", "off"]  # off: not cacheable (temperature too high) or disabled
CACHE_HITS = ("exact", "semantic")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    pipeline TEXT NOT NULL,
    run_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    prompt TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    ttft_ms REAL,
    cache TEXT NOT NULL,
    fallback INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_at ON calls (at);
"""
_FIELDS: tuple[str, ...] = (
    "at",
    "pipeline",
    "run_id",
    "stage",
    "prompt",
    "model",
    "provider",
    "tokens_in",
    "tokens_out",
)
_FIELDS += ("latency_ms", "ttft_ms", "cache", "fallback", "cost_usd", "outcome", "error")


@dataclass(frozen=True)
class UsageRecord:
    prompt: str  # id@version; "" when the caller named none
    model: str
    provider: str
    outcome: Outcome
    cache: CacheOutcome = "off"
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None  # time to first token, of streamed model calls
    fallback: bool = False
    cost_usd: float = 0.0
    error: str = ""  # type and message, API keys masked
    pipeline: str = ""
    run_id: str = ""
    stage: str = ""
    at: float = field(default_factory=time.time)


class UsageStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = SqliteFile(path, _SCHEMA)

    def record(self, record: UsageRecord) -> None:
        values = asdict(record)
        marks = ", ".join("?" * len(_FIELDS))
        self.file.db().execute(
            f"INSERT INTO calls ({', '.join(_FIELDS)}) VALUES ({marks})", [values[f] for f in _FIELDS]
        )

    def records(self, since: float = 0.0) -> list[UsageRecord]:
        rows = self.file.db().execute(f"SELECT {', '.join(_FIELDS)} FROM calls WHERE at >= ? ORDER BY at", (since,))
        found = []
        for row in rows:
            values = dict(zip(_FIELDS, row, strict=True))
            found.append(UsageRecord(**{**values, "fallback": bool(values["fallback"])}))
        return found


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats
    return ordered[int(rank) - 1]


def summarize(records: list[UsageRecord]) -> dict[str, Any]:
    """What `dagwright usage` shows, as data (its --json output)."""
    answered = [r for r in records if r.outcome == "ok"]
    from_model = [r for r in answered if r.cache not in CACHE_HITS]
    cacheable = [r for r in answered if r.cache != "off"]
    latencies = [r.latency_ms for r in from_model]
    firsts = [r.ttft_ms for r in from_model if r.ttft_ms is not None]
    return {
        "calls": len(records),
        "ok": len(answered),
        "errors": sum(r.outcome == "error" for r in records),
        "refused": sum(r.outcome == "refused" for r in records),
        "tokens_in": sum(r.tokens_in for r in records),
        "tokens_out": sum(r.tokens_out for r in records),
        "cost_usd": round(sum(r.cost_usd for r in records), 6),
        "cache_hit_rate": _rate(sum(r.cache in CACHE_HITS for r in cacheable), len(cacheable)),
        "error_rate": _rate(sum(r.outcome == "error" for r in records), len(records)),
        "fallback_rate": _rate(sum(r.fallback for r in from_model), len(from_model)),
        "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95)},
        "ttft_ms": {"p50": percentile(firsts, 50), "p95": percentile(firsts, 95)},
        "by_prompt": _group(records, "prompt"),
        "by_model": _group(records, "model"),
        "by_pipeline": _group(records, "pipeline"),
    }


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _group(records: list[UsageRecord], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for r in records:
        g = groups.setdefault(getattr(r, key) or "-", {"calls": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0})
        g["calls"] += 1
        g["tokens_in"] += r.tokens_in
        g["tokens_out"] += r.tokens_out
        g["cost_usd"] = round(g["cost_usd"] + r.cost_usd, 6)
    return dict(sorted(groups.items()))
