"""The LLM gateway against real llama.cpp servers (SmolLM2): the embedded one it starts itself, and two more on
loopback for the fallback route, one of which is killed mid-run and started again."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.gateway.errors import BudgetExceeded, ContextWindowExceeded
from components.gateway.resource import LlmGateway
from components.gateway.usage import open_usage_store
from components.llmserver import LOCAL_MODEL
from components.resources import opened
from components.runinfo import RunInfo, running
from tests.conftest import REPO
from tests.helpers.llmservers import LlamaServer, primary_and_backup
from tests.helpers.services import scratch_database

pytestmark = pytest.mark.integration

ASK = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Name three colours."}]
PROMPT = "colours@1"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LlamaServer, LlamaServer]]:
    with primary_and_backup(tmp_path_factory.mktemp("llama")) as servers:
        yield servers


def gateway(state: Path, **settings: Any) -> LlmGateway:
    return opened(LlmGateway, root=REPO, state_dir=state, **settings)


def test_the_embedded_model_counts_exactly_caches_greedy_replies_and_refuses_long_prompts(tmp_path: Path) -> None:
    gw = gateway(tmp_path, providers={"local": {"kind": "llama_cpp", "local_context": 512}})
    try:
        server = gw.providers["local"]
        first = gw.reply(ASK, prompt=PROMPT, temperature=0, max_tokens=12)
        assert first.served_by == "model" and first.text and first.model == LOCAL_MODEL
        assert first.usage["prompt_tokens"] == server.count(ASK)  # /apply-template + /tokenize: exact
        started = time.perf_counter()
        again = gw.reply(ASK, prompt=PROMPT, temperature=0, max_tokens=12)
        hit_ms = (time.perf_counter() - started) * 1000
        assert (again.served_by, again.text) == ("exact_cache", first.text) and hit_ms < 50
        print(f"exact hit {hit_ms:.2f} ms")
        streamed = gw.reply(ASK, prompt=PROMPT, temperature=0.3, max_tokens=8, stream=True)
        assert streamed.text and streamed.usage["prompt_tokens"] == first.usage["prompt_tokens"]
        assert 1 <= streamed.usage["completion_tokens"] <= 8
        with pytest.raises(
            ContextWindowExceeded,
            match=r"over the context window of 512 tokens of "
            r"smollm2-135m-instruct at provider 'local'",
        ):
            gw.reply([{"role": "user", "content": "colour " * 600}], prompt=PROMPT, max_tokens=12)
        process = server.server.process if server.server else None
    finally:
        gw.close()
    assert process is not None and process.poll() is not None  # the gateway stopped the server it started
    assert [(r.outcome, r.cache) for r in gw.usage.records()] == [
        ("ok", "miss"),
        ("ok", "exact"),
        ("ok", "off"),
        ("error", "off"),
    ]
    records = gw.usage.records()
    streamed_ttft, streamed_latency = records[2].ttft_ms, records[2].latency_ms
    assert streamed_ttft is not None and 0 < streamed_ttft < streamed_latency  # time to first token, streamed only
    assert records[0].ttft_ms is None
    print(f"streamed: first token {streamed_ttft:.0f} ms of {streamed_latency:.0f} ms")


def test_a_killed_primary_falls_back_opens_its_circuit_then_half_opens_and_closes(
    servers: tuple[LlamaServer, LlamaServer], tmp_path: Path
) -> None:
    primary, backup = servers
    gw = gateway(
        tmp_path,
        providers={
            "primary": {"kind": "llama_cpp", "base_url": primary.url, "max_retries": 1, "timeout": 20},
            "backup": {"kind": "openai", "base_url": backup.url, "model": LOCAL_MODEL, "context_window": 2048},
        },
        route=["primary", "backup"],
        breaker={"failures": 2, "cooldown": 3},
        backoff=0.05,
    )
    ask = lambda: gw.reply(ASK, prompt=PROMPT, temperature=0.2, max_tokens=8)  # noqa: E731
    try:
        assert ask().provider == "primary"
        primary.kill()
        assert ask().provider == "backup"  # two failed attempts at the primary, then the fallback
        assert gw.breakers()["primary"]["state"] == "open"
        assert ask().provider == "backup"  # skipped: no time spent on the dead one
        opened_at = time.monotonic()
        primary.start()
        time.sleep(max(0.0, 3.05 - (time.monotonic() - opened_at)))
        assert gw.breakers()["primary"]["state"] == "half_open"
        assert ask().provider == "primary"  # the trial call succeeds...
        assert gw.breakers()["primary"] == {"state": "closed", "failures": 0, "opened": 1}  # ...and closes it
    finally:
        gw.close()
    records = gw.usage.records()
    assert [(r.provider, r.fallback, r.outcome) for r in records] == [
        ("primary", False, "ok"),
        ("backup", True, "ok"),
        ("backup", True, "ok"),
        ("primary", False, "ok"),
    ]
    assert records[2].latency_ms < records[1].latency_ms  # the open circuit saved the retries
    print("latency ms by call:", [r.latency_ms for r in records])


def budgeted(state: Path, url: str, usage_dsn: str | None = None) -> LlmGateway:
    """A gateway whose pipeline 'budgeted' may spend what 5 calls of ASK with max_tokens 8 may take; its ledger
    and records in PostgreSQL when ``usage_dsn`` is given."""
    probe = gateway(state, providers={"local": {"kind": "llama_cpp", "base_url": url}})
    tokens = probe.providers["local"]
    tokens.ensure_open()
    most = tokens.count(ASK) + 8
    probe.close()
    price = {"input_per_1k": 0.5, "output_per_1k": 1.5}
    usd = 5 * (most - 8) * 0.5 / 1000 + 5 * 8 * 1.5 / 1000
    return gateway(
        state,
        providers={"local": {"kind": "llama_cpp", "base_url": url}},
        prices={LOCAL_MODEL: price},
        budgets={"daily_tokens": {"budgeted": 5 * most}, "daily_usd": {"budgeted": usd}},
        usage_dsn=usage_dsn,
    )


def call_many(gw: LlmGateway, n: int, run_id: str) -> list[str]:
    outcomes: list[str] = []

    def one() -> None:
        with running(RunInfo("budgeted", run_id, "generate")):
            try:
                gw.reply(ASK, prompt=PROMPT, temperature=0.5, max_tokens=8)
                outcomes.append("ok")
            except BudgetExceeded:
                outcomes.append("refused")

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def in_process(state: str, url: str, queue: Any, usage_dsn: str | None = None) -> None:
    gw = budgeted(Path(state), url, usage_dsn)
    queue.put(call_many(gw, 5, "process"))
    gw.close()


def assert_within_budget(state: Path, url: str, outcomes: list[str], usage_dsn: str | None = None) -> None:
    gw = budgeted(state, url, usage_dsn)
    limit_tokens, limit_usd = gw.params.budgets.limits("budgeted")
    spent_tokens, spent_usd = gw.ledger.spent("pipeline", "budgeted")
    assert limit_tokens is not None and limit_usd is not None
    assert spent_tokens <= limit_tokens and spent_usd <= limit_usd + 1e-9
    assert len(outcomes) == 20 and 5 <= outcomes.count("ok") < 20  # reservations of the maximum admit 5 at once
    records = gw.usage.records()
    assert sorted(r.outcome for r in records) == sorted(outcomes)  # every refusal recorded
    assert sum(r.tokens_in + r.tokens_out for r in records) == spent_tokens
    print(
        f"ok {outcomes.count('ok')}/20; spent {spent_tokens}/{limit_tokens} tokens, ${spent_usd:.5f}/${limit_usd:.5f}"
    )
    gw.close()


def test_twenty_parallel_threads_never_spend_over_a_budget_for_five(
    servers: tuple[LlamaServer, LlamaServer], tmp_path: Path
) -> None:
    url = servers[1].url
    gw = budgeted(tmp_path, url)
    outcomes = call_many(gw, 20, "threads")
    gw.close()
    assert_within_budget(tmp_path, url, outcomes)


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_twenty_calls_from_four_processes_never_spend_over_a_budget_for_five(
    servers: tuple[LlamaServer, LlamaServer], tmp_path: Path, store: str
) -> None:
    url = servers[1].url
    with contextlib.ExitStack() as stack:
        dsn = stack.enter_context(scratch_database()) if store == "postgres" else None
        spawn = multiprocessing.get_context("spawn")
        queue = spawn.Queue()
        processes = [spawn.Process(target=in_process, args=(str(tmp_path), url, queue, dsn)) for _ in range(4)]
        for p in processes:
            p.start()
        outcomes = [o for _ in processes for o in queue.get(timeout=300)]
        for p in processes:
            p.join(60)
        assert_within_budget(tmp_path, url, outcomes, dsn)
        if dsn:
            assert not (tmp_path / "state" / "budgets.sqlite").exists()


def test_a_pipeline_run_records_its_calls_under_its_pipeline_run_and_prompt(
    tmp_path: Path, isolated_home: Path
) -> None:
    from tests.helpers.files import shipped_project
    from tests.integration.test_rag_pipelines import dagwright

    root = shipped_project(tmp_path / "project")
    assert dagwright(root, "run", "rag-ingest", "--local").returncode == 0
    for _ in range(2):
        done = dagwright(root, "run", "rag-query", "--local", "-p", "question=Where do secrets go?")
        assert done.returncode == 0, done.stdout + done.stderr
    (first, second) = open_usage_store(None, isolated_home).records()
    assert (first.pipeline, first.stage, first.prompt, first.provider) == (
        "rag-query",
        "generate",
        "rag-answer@1",
        "local",
    )
    assert first.run_id and second.run_id and first.run_id != second.run_id
    assert first.tokens_in > 100 and first.outcome == "ok"
    shown = dagwright(root, "usage")
    assert "calls 2: 2 ok, 0 errors, 0 refused" in shown.stdout and "rag-query" in shown.stdout
    print(shown.stdout)


def test_a_killed_embedded_server_is_started_again_by_the_next_attempt(tmp_path: Path) -> None:
    gw = gateway(tmp_path, backoff=0.05)
    try:
        assert gw.reply(ASK, max_tokens=4).provider == "local"
        local = gw.providers["local"]
        assert local.server is not None and local.server.process is not None
        dead = local.server.process
        dead.kill()
        dead.wait(30)
        again = gw.reply(ASK, max_tokens=4)  # one failed attempt, then a new server answers
        assert again.provider == "local" and again.text
        assert local.server is not None and local.server.process is not None and local.server.process.poll() is None
        assert local.server.process.pid != dead.pid
        assert gw.breakers()["local"] == {"state": "closed", "failures": 0, "opened": 0}
    finally:
        gw.close()
    assert [r.outcome for r in gw.usage.records()] == ["ok", "ok"]
