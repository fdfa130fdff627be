"""Budgets hold under concurrency (20 callers at once, threads or processes, against a budget that allows 5) and
count each call in every scope that has a limit: its pipeline, and the endpoint, API key and organisation of the
caller. The PostgreSQL ledger runs the same race in tests/integration/test_gateway_postgres.py."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from components.gateway.budgets import SCHEMA, BudgetLedger
from components.gateway.errors import BudgetExceeded
from components.gateway.settings import BudgetSettings
from components.gateway.store import PostgresDb, SqliteFile
from components.runinfo import RunInfo

SETTINGS = BudgetSettings(daily_tokens={"ask": 500}, daily_usd={"ask": 0.05})
ASK = RunInfo("ask")


def ledger_at(where: str, settings: BudgetSettings = SETTINGS) -> BudgetLedger:
    """A ledger in the SQLite file ``where``, or in PostgreSQL when ``where`` is a DSN."""
    db = PostgresDb(where, SCHEMA) if where.startswith("postgresql://") else SqliteFile(Path(where), SCHEMA)
    return BudgetLedger(db, settings)


def reserve_once(where: str, start: Any, results: list[bool] | None = None, queue: Any = None) -> None:
    ledger = ledger_at(where)
    ledger.db.db()  # connect before the race, so the race is about the reservation
    start.wait()
    try:
        held = ledger.reserve(ASK, 100, 0.004)
        ledger.settle(held, 100, 0.004)
        won = True
    except BudgetExceeded:
        won = False
    (results.append(won) if results is not None else queue.put(won))


def race_threads(where: str) -> list[bool]:
    start, results = threading.Barrier(20), []
    threads = [threading.Thread(target=reserve_once, args=(where, start, results)) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results)


def race_processes(where: str) -> list[bool]:
    spawn = multiprocessing.get_context("spawn")
    start, queue = spawn.Barrier(20), spawn.Queue()
    processes = [spawn.Process(target=reserve_once, args=(where, start, None, queue)) for _ in range(20)]
    for p in processes:
        p.start()
    results = [queue.get(timeout=120) for _ in processes]
    for p in processes:
        p.join(30)
    return sorted(results)


def test_twenty_threads_and_five_win(tmp_path: Path) -> None:
    where = str(tmp_path / "b.sqlite")
    assert race_threads(where) == [False] * 15 + [True] * 5
    assert ledger_at(where).spent("pipeline", "ask") == (500, 0.02)


def test_twenty_processes_and_five_win(tmp_path: Path) -> None:
    where = str(tmp_path / "b.sqlite")
    assert race_processes(where) == [False] * 15 + [True] * 5
    assert ledger_at(where).spent("pipeline", "ask") == (500, 0.02)


def test_money_limits_too_and_a_settled_call_frees_what_it_did_not_use(tmp_path: Path) -> None:
    ledger = ledger_at(str(tmp_path / "b.sqlite"), BudgetSettings(daily_usd={"*": 0.01}))
    held = ledger.reserve(RunInfo("any"), 1000, 0.008)
    with pytest.raises(BudgetExceeded) as refused:
        ledger.reserve(RunInfo("any"), 10, 0.004)
    assert str(refused.value) == (
        "pipeline 'any': daily budget of $0.0100 exhausted: $0.0080 spent or reserved today, this call may take "
        "up to $0.0040"
    )
    ledger.settle(held, 200, 0.002)
    ledger.reserve(RunInfo("any"), 10, 0.004)  # fits now
    ledger.release(ledger.reserve(RunInfo("any"), 10, 0.004))
    assert ledger.spent("pipeline", "any") == (210, 0.006)
    assert ledger.reserve(RunInfo("other"), 10, 0.009) is not None  # '*' gives every pipeline its own budget
    assert ledger.spent("pipeline", "other") == (10, 0.009)


KEY_A, KEY_B = "a1b2c3d4e5f6", "0f9e8d7c6b5a"
SCOPED = BudgetSettings(
    per_key={"daily_tokens": {KEY_A: 150, "*": 1000}},
    per_endpoint={"daily_tokens": {"/v1/chat/completions": 250}},
    per_org={"daily_usd": {"acme": 1.0}},
)


def caller(key: str, endpoint: str = "/v1/pipelines/ask/run", org: str = "acme") -> RunInfo:
    return RunInfo("ask", endpoint=endpoint, org=org, key_id=key)


def test_a_key_over_its_budget_is_refused_and_other_keys_are_not(tmp_path: Path) -> None:
    ledger = ledger_at(str(tmp_path / "b.sqlite"), SCOPED)
    ledger.reserve(caller(KEY_A), 100, 0.0)
    with pytest.raises(BudgetExceeded) as refused:
        ledger.reserve(caller(KEY_A), 100, 0.0)
    assert str(refused.value) == (
        f"API key '{KEY_A}': daily budget of 150 tokens exhausted: 100 tokens spent or reserved today, this call may "
        "take up to 100 tokens"
    )
    for _ in range(3):
        ledger.reserve(caller(KEY_B), 100, 0.0)  # '*': a budget of its own, untouched by KEY_A's spend
    assert ledger.spent("key", KEY_A) == (100, 0.0) and ledger.spent("key", KEY_B) == (300, 0.0)


def test_an_endpoint_over_its_budget_refuses_every_key_there_and_no_other_endpoint(tmp_path: Path) -> None:
    ledger = ledger_at(str(tmp_path / "b.sqlite"), SCOPED)
    chat = "/v1/chat/completions"
    ledger.reserve(caller(KEY_B, chat), 200, 0.0)
    with pytest.raises(BudgetExceeded, match=r"^endpoint '/v1/chat/completions': daily budget of 250 tokens"):
        ledger.reserve(caller("111111111111", chat), 100, 0.0)
    ledger.reserve(caller(KEY_B), 100, 0.0)  # the run endpoint has no budget; KEY_B's own still has room
    assert ledger.spent("endpoint", chat) == (200, 0.0)


def test_a_refusal_in_one_scope_reserves_in_none(tmp_path: Path) -> None:
    ledger = ledger_at(str(tmp_path / "b.sqlite"), SCOPED)
    with pytest.raises(BudgetExceeded, match=r"^API key"):
        ledger.reserve(caller(KEY_A, "/v1/chat/completions"), 200, 0.0)  # the endpoint had room, the key not
    assert ledger.spent("endpoint", "/v1/chat/completions") == (0, 0.0)


def test_calls_outside_serve_count_in_no_key_endpoint_or_org_scope(tmp_path: Path) -> None:
    ledger = ledger_at(str(tmp_path / "b.sqlite"), SCOPED)
    assert ledger.reserve(RunInfo("ask"), 10_000, 5.0) is None  # no pipeline budget, no caller


def test_key_budgets_name_key_ids_and_never_quote_what_looks_like_a_key() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as bad:
        BudgetSettings(per_key={"daily_usd": {"sk-live-abcdef0123456789": 1.0, KEY_A: 2.0}})
    (error,) = bad.value.errors()
    assert error["loc"] == ("per_key",) and "1 name(s) are not key ids (not shown" in error["msg"]
    assert "sk-live" not in error["msg"]
    assert BudgetSettings(per_key={"daily_usd": {"client:10.0.0.5": 1.0}}).per_key.limits("client:10.0.0.5")[1] == 1
