"""Budgets hold under concurrency: 20 callers at once, threads or processes, against a budget that allows 5."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

from components.gateway.budgets import BudgetLedger
from components.gateway.errors import BudgetExceeded
from components.gateway.settings import BudgetSettings

SETTINGS = BudgetSettings(daily_tokens={"ask": 500}, daily_usd={"ask": 0.05})


def reserve_once(path: str, start: threading.Barrier | None, results: list[bool] | None = None, queue=None) -> None:
    ledger = BudgetLedger(Path(path), SETTINGS)
    ledger.file.db()  # open the file before the race, so the race is about the reservation
    if start is not None:
        start.wait()
    try:
        held = ledger.reserve("ask", 100, 0.004)
        ledger.settle(held, 100, 0.004)
        won = True
    except BudgetExceeded:
        won = False
    (results.append(won) if results is not None else queue.put(won))


def test_twenty_threads_and_five_win(tmp_path: Path) -> None:
    start, results = threading.Barrier(20), []
    threads = [
        threading.Thread(target=reserve_once, args=(str(tmp_path / "b.sqlite"), start, results)) for _ in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 15 + [True] * 5
    assert BudgetLedger(tmp_path / "b.sqlite", SETTINGS).spent("ask") == (500, 0.02)


def test_twenty_processes_and_five_win(tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    start, queue = spawn.Barrier(20), spawn.Queue()
    path = str(tmp_path / "b.sqlite")
    processes = [spawn.Process(target=reserve_once, args=(path, start, None, queue)) for _ in range(20)]
    for p in processes:
        p.start()
    results = [queue.get(timeout=120) for _ in processes]
    for p in processes:
        p.join(30)
    assert sorted(results) == [False] * 15 + [True] * 5
    assert BudgetLedger(Path(path), SETTINGS).spent("ask") == (500, 0.02)


def test_money_limits_too_and_a_settled_call_frees_what_it_did_not_use(tmp_path: Path) -> None:
    ledger = BudgetLedger(tmp_path / "b.sqlite", BudgetSettings(daily_usd={"*": 0.01}))
    held = ledger.reserve("any", 1000, 0.008)
    try:
        ledger.reserve("any", 10, 0.004)
        raise AssertionError("reserved over the budget")
    except BudgetExceeded as exc:
        assert str(exc) == (
            "pipeline 'any': daily budget of $0.0100 exhausted: $0.0080 spent or reserved today, this call may take "
            "up to $0.0040"
        )
    ledger.settle(held, 200, 0.002)
    ledger.reserve("any", 10, 0.004)  # fits now
    ledger.release(ledger.reserve("any", 10, 0.004))
    assert ledger.spent("any") == (210, 0.006)
    assert ledger.reserve("other", 10, 0.009) is not None  # '*' gives every pipeline its own budget
    assert ledger.spent("other") == (10, 0.009)
