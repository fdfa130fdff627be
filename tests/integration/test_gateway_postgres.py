"""The gateway's usage records and budget ledger on the system PostgreSQL (`usage_dsn`): budgets hold across
processes, per key and per endpoint; refusals are recorded with the caller; `dagwright usage` reads them; a DSN
with a password never shows, not even when the server is down."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from components.gateway.errors import BudgetExceeded, BudgetUnavailable
from components.runinfo import RunInfo, running
from flows.cli.main import main
from tests.components.gateway.test_budgets import ledger_at, race_processes, race_threads
from tests.components.gateway.test_gateway import ASK, gateway
from tests.helpers.chatserver import OK, chat_server
from tests.helpers.services import PG_SECRET, private_port, scratch_database

pytestmark = pytest.mark.integration

KEY_A, KEY_B = "a1b2c3d4e5f6", "0f9e8d7c6b5a"


@pytest.fixture
def dsn() -> str:
    with scratch_database() as found:
        yield found


def test_twenty_processes_and_five_win_on_postgres(dsn: str) -> None:
    assert race_processes(dsn) == [False] * 15 + [True] * 5
    assert ledger_at(dsn).spent("pipeline", "ask") == (500, 0.02)


def test_twenty_threads_and_five_win_on_postgres(dsn: str) -> None:
    assert race_threads(dsn) == [False] * 15 + [True] * 5
    assert ledger_at(dsn).spent("pipeline", "ask") == (500, 0.02)


def caller(key: str, endpoint: str = "/v1/chat/completions") -> RunInfo:
    return RunInfo("ask", "run-1", "generate", endpoint=endpoint, org="acme", key_id=key)


def test_a_key_over_its_budget_is_refused_the_others_answered_and_all_recorded(tmp_path: Path, dsn: str) -> None:
    budgets = {"per_key": {"daily_tokens": {KEY_A: 30}}, "per_endpoint": {"daily_tokens": {"/v1/other": 1}}}
    with chat_server(OK) as (url, script):
        gw = gateway(tmp_path, url, usage_dsn=dsn, budgets=budgets)
        with running(caller(KEY_A)):
            gw.reply(ASK, max_tokens=10)  # reserves 15 + 10, settles 13 (the server's count)
            with pytest.raises(BudgetExceeded, match=rf"^API key '{KEY_A}': daily budget of 30 tokens exhausted"):
                gw.reply(ASK, max_tokens=10)
        with running(caller(KEY_B)):
            gw.reply(ASK, max_tokens=10)
        with running(caller(KEY_B, "/v1/other")), pytest.raises(BudgetExceeded, match=r"^endpoint '/v1/other'"):
            gw.reply(ASK, max_tokens=10)
        other = gateway(tmp_path / "elsewhere", url, usage_dsn=dsn, budgets=budgets)  # another host, same ledger
        assert other.ledger.spent("key", KEY_A) == (13, 0.0)
    assert len(script.requests) == 2
    records = other.usage.records()
    assert [(r.outcome, r.key_id, r.endpoint, r.org) for r in records] == [
        ("ok", KEY_A, "/v1/chat/completions", "acme"),
        ("refused", KEY_A, "/v1/chat/completions", "acme"),
        ("ok", KEY_B, "/v1/chat/completions", "acme"),
        ("refused", KEY_B, "/v1/other", "acme"),
    ]
    import psycopg

    with psycopg.connect(dsn) as db:  # every column of every row, as text
        stored = " ".join(
            row[0]
            for table in ("dagwright_llm_calls", "dagwright_budget_holds")
            for row in db.execute(f"SELECT t::text FROM {table} t").fetchall()
        )
    assert KEY_A in stored and PG_SECRET not in stored
    summary = other.usage_summary(by=["key", "endpoint"])
    assert (summary["calls"], summary["refused"]) == (4, 2)
    assert {k: g["calls"] for k, g in summary["by_key"].items()} == {KEY_A: 2, KEY_B: 2}
    assert {k: g["calls"] for k, g in summary["by_endpoint"].items()} == {"/v1/chat/completions": 3, "/v1/other": 1}
    gw.close()
    other.close()


PIPELINES = """
resources:
  llm:
    uses: llm.gateway
    with:
      providers: {p0: {kind: openai, base_url: "http://127.0.0.1:9/v1", model: m0}}
      route: [p0]
      usage_dsn: "${env:DW_TEST_USAGE_DSN}"
pipelines:
  p:
    stages:
      s: {uses: python.call, with: {function: "json:dumps"}, inputs: {obj: 1}}
"""


def test_dagwright_usage_reads_postgres_groups_by_key_and_never_shows_the_dsn(
    tmp_path: Path, dsn: str, write_pipelines, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with chat_server(OK) as (url, _):
        gw = gateway(tmp_path, url, usage_dsn=dsn)
        for key in (KEY_A, KEY_A, KEY_B):
            with running(caller(key)):
                gw.reply(ASK, max_tokens=5)
        gw.close()
    file = write_pipelines(PIPELINES)
    monkeypatch.setenv("DW_TEST_USAGE_DSN", dsn)
    assert main(["-f", str(file), "usage", "--by", "key", "--json"]) == 0
    out = capsys.readouterr().out
    assert {k: g["calls"] for k, g in json.loads(out)["by_key"].items()} == {KEY_A: 2, KEY_B: 1}
    assert main(["-f", str(file), "usage", "--by", "key", "--by", "org"]) == 0
    text = capsys.readouterr().out
    assert "LLM usage since 1d (PostgreSQL of resource 'llm')" in text
    assert f"     {KEY_A:<30} {2:>6}" in text and "by organisation" in text
    assert PG_SECRET not in out + text and dsn not in out + text


def test_postgres_down_refuses_budgeted_calls_answers_others_and_never_shows_the_dsn(
    tmp_path: Path,
    write_pipelines,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    down = f"postgresql://postgres:{PG_SECRET}@127.0.0.1:{private_port()}/dw_nowhere"
    caplog.set_level(logging.WARNING)
    with chat_server(OK) as (url, script):
        gw = gateway(tmp_path, url, usage_dsn=down, budgets={"daily_tokens": {"ask": 1000}})
        with running(RunInfo("ask")), pytest.raises(BudgetUnavailable) as refused:
            gw.reply(ASK, max_tokens=5)
        assert gw.reply(ASK, max_tokens=5).text == "scripted answer"  # no budget applies outside 'ask'
    assert len(script.requests) == 1
    assert str(refused.value).startswith("the budget ledger cannot be reached (OperationalError: ")
    assert "usage not recorded (OperationalError" in caplog.text
    monkeypatch.setenv("DW_TEST_USAGE_DSN", down)
    assert main(["-f", str(write_pipelines(PIPELINES)), "usage"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: resource 'llm': the usage store cannot be read: OperationalError")
    for text in (str(refused.value), caplog.text, err):
        assert PG_SECRET not in text and down not in text
