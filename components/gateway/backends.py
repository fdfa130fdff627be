"""Where each part of the gateway keeps its state, from its settings:

- the exact and semantic caches: Redis when `redis_url` is set, else SQLite files under the state directory;
- the usage records and the budget ledger: PostgreSQL when `usage_dsn` is set, else SQLite files there.

One setting for both records, not two: the ledger and the records count the same spend, a budget shared by
every host needs its records where every host writes too, and both then share one connection per thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.gateway.budgets import SCHEMA as BUDGET_SCHEMA
from components.gateway.budgets import BudgetLedger
from components.gateway.settings import GatewaySettings
from components.gateway.store import PostgresDb, SqliteFile
from components.gateway.usage import POSTGRES_TABLE, UsageStore, open_usage_store, schema

if TYPE_CHECKING:
    from components.gateway.cache import ExactCache
    from components.gateway.semantic import SemanticCache


@dataclass
class Caches:
    exact: ExactCache | None
    semantic: SemanticCache | None
    errors: tuple[type[BaseException], ...]  # what a cache that is down or broken raises: a miss, not a failure


def open_caches(settings: GatewaySettings, state_dir: Path) -> Caches:
    import sqlite3

    from components.models import ModelFileError

    p, errors = settings.cache, (sqlite3.Error, ModelFileError)
    semantic = p.semantic
    tuning: dict[str, Any] = (
        {"guard": semantic.guard, "max_entries": semantic.max_entries, "ttl": p.ttl} if semantic else {}
    )
    if settings.redis_url:
        import redis

        from components.gateway.redis_caches import RedisExactCache, RedisSemanticCache, connect

        client = connect(settings.redis_url)
        return Caches(
            RedisExactCache(client, p.prefix, p.ttl) if p.exact else None,
            RedisSemanticCache(client, p.prefix, semantic.threshold, **tuning) if semantic else None,
            (*errors, redis.RedisError),
        )
    from components.gateway.cache import SqliteExactCache
    from components.gateway.semantic import SqliteSemanticCache

    return Caches(
        SqliteExactCache(state_dir / "llm-cache.sqlite", p.ttl) if p.exact else None,
        SqliteSemanticCache(state_dir / "llm-semantic.sqlite", semantic.threshold, **tuning) if semantic else None,
        errors,
    )


@dataclass
class Records:
    usage: UsageStore
    ledger: BudgetLedger
    errors: tuple[type[BaseException], ...]  # what a store that is down raises
    close: Callable[[], None]


def open_records(settings: GatewaySettings, state_dir: Path) -> Records:
    import sqlite3

    if settings.usage_dsn:
        import psycopg

        db = PostgresDb(settings.usage_dsn, schema(POSTGRES_TABLE) + BUDGET_SCHEMA)
        usage = UsageStore(db, POSTGRES_TABLE)
        return Records(usage, BudgetLedger(db, settings.budgets), (sqlite3.Error, psycopg.Error), db.close)
    ledger = BudgetLedger(SqliteFile(state_dir / "budgets.sqlite", BUDGET_SCHEMA), settings.budgets)
    return Records(open_usage_store(None, state_dir), ledger, (sqlite3.Error,), lambda: None)
