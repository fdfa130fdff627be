"""The record of every call through the gateway, in SQLite under the state directory (`usage.sqlite`) or in
PostgreSQL (`usage_dsn`), and the summary `dagwright usage` prints: cost and tokens by prompt, model and pipeline
(and by endpoint, API key or organisation when asked), cache hit rate, latency percentiles, error and fallback
rates."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from components.gateway.store import PostgresDb, SqliteFile

Outcome = Literal["ok", "error", "refused", "cancelled"]  # cancelled: the client left a stream
CacheOutcome = Literal["exact", "semantic", "miss", "off"]  # off: not cacheable (temperature too high) or disabled
CACHE_HITS = ("exact", "semantic")

# Column -> type, one list for SQLite (which reads the PostgreSQL type names by affinity) and PostgreSQL.
_COLUMNS = {
    "at": "DOUBLE PRECISION NOT NULL",
    "pipeline": "TEXT NOT NULL",
    "run_id": "TEXT NOT NULL",
    "stage": "TEXT NOT NULL",
    "prompt": "TEXT NOT NULL",
    "model": "TEXT NOT NULL",
    "provider": "TEXT NOT NULL",
    "tokens_in": "INTEGER NOT NULL",
    "tokens_out": "INTEGER NOT NULL",
    "latency_ms": "DOUBLE PRECISION NOT NULL",
    "ttft_ms": "DOUBLE PRECISION",
    "cache": "TEXT NOT NULL",
    "fallback": "INTEGER NOT NULL",
    "cost_usd": "DOUBLE PRECISION NOT NULL",
    "outcome": "TEXT NOT NULL",
    "error": "TEXT NOT NULL",
}
# Added after the first release: older SQLite files get them when opened (SqliteFile's `added`).
_CALLER = {
    "endpoint": "TEXT NOT NULL DEFAULT ''",
    "org": "TEXT NOT NULL DEFAULT ''",
    "key_id": "TEXT NOT NULL DEFAULT ''",
}
_FIELDS = (*_COLUMNS, *_CALLER)
SQLITE_TABLE, POSTGRES_TABLE = "calls", "dagwright_llm_calls"


def schema(table: str) -> str:
    columns = ",\n    ".join(f"{name} {kind}" for name, kind in {**_COLUMNS, **_CALLER}.items())
    index = f"CREATE INDEX IF NOT EXISTS {table}_at ON {table} (at);"
    return f"CREATE TABLE IF NOT EXISTS {table} (\n    {columns}\n);\n{index}\n"


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
    endpoint: str = ""  # who asked, when `dagwright serve` started the run (components/runinfo.py)
    org: str = ""
    key_id: str = ""  # the key's id, never the key
    at: float = field(default_factory=time.time)


class UsageStore:
    """The records, in a SQLite file (default) or PostgreSQL (`usage_dsn`): see open_usage_store()."""

    def __init__(self, db: SqliteFile | PostgresDb, table: str) -> None:
        self.db, self.table = db, table

    def record(self, record: UsageRecord) -> None:
        values = asdict(record)
        values["fallback"] = int(values["fallback"])
        marks = ", ".join("?" * len(_FIELDS))
        self.db.execute(
            f"INSERT INTO {self.table} ({', '.join(_FIELDS)}) VALUES ({marks})", tuple(values[f] for f in _FIELDS)
        )

    def records(self, since: float = 0.0) -> list[UsageRecord]:
        rows = self.db.execute(f"SELECT {', '.join(_FIELDS)} FROM {self.table} WHERE at >= ? ORDER BY at", (since,))
        found = []
        for row in rows:
            values = dict(zip(_FIELDS, row, strict=True))
            found.append(UsageRecord(**{**values, "fallback": bool(values["fallback"])}))
        return found

    def close(self) -> None:
        self.db.close()


def open_usage_store(dsn: str | None, state_dir: Path) -> UsageStore:
    """PostgreSQL when ``dsn`` is set, else `usage.sqlite` under ``state_dir``."""
    if dsn:
        return UsageStore(PostgresDb(dsn, schema(POSTGRES_TABLE)), POSTGRES_TABLE)
    return UsageStore(
        SqliteFile(state_dir / "usage.sqlite", schema(SQLITE_TABLE), added={SQLITE_TABLE: _CALLER}), SQLITE_TABLE
    )


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats
    return ordered[int(rank) - 1]


# The extra groupings `dagwright usage --by` offers: its name -> the record's field.
GROUPINGS = {"endpoint": "endpoint", "key": "key_id", "org": "org"}


def summarize(records: list[UsageRecord], by: Iterable[str] = ()) -> dict[str, Any]:
    """What `dagwright usage` shows, as data (its --json output); ``by`` adds `by_endpoint`, `by_key`, `by_org`
    (names of GROUPINGS) after the three groupings it always has."""
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
        "cancelled": sum(r.outcome == "cancelled" for r in records),
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
        **{f"by_{name}": _group(records, GROUPINGS[name]) for name in by},
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
