"""The gateway against scripted OpenAI-compatible endpoints on loopback (tests/helpers/chatserver.py): retries,
Retry-After, fallback, context-window and budget refusals, the exact cache, usage records, masked keys."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from components.gateway.errors import BudgetExceeded, ContextWindowExceeded, ProvidersFailed
from components.gateway.resource import LlmGateway
from components.resources import opened
from components.runinfo import RunInfo, running
from tests.helpers.chatserver import OK, chat_server

ASK = [{"role": "user", "content": "What is in the notes?"}]


def gateway(tmp_path: Path, *urls: str, **settings: Any) -> LlmGateway:
    providers = {f"p{n}": {"kind": "openai", "base_url": url, "model": f"m{n}"} for n, url in enumerate(urls)}
    settings = {"providers": providers, "route": list(providers), "backoff": 0.01, **settings}
    return opened(LlmGateway, root=tmp_path, state_dir=tmp_path / "state", **settings)


def test_a_429_is_retried_after_the_servers_retry_after(tmp_path: Path) -> None:
    with chat_server((429, {"retry-after": "1"}, {"error": {"message": "slow down"}}), OK) as (url, script):
        reply = gateway(tmp_path, url).reply(ASK, max_tokens=5)
    assert reply.text == "scripted answer" and reply.provider == "p0"
    (first, *_), (second, *_) = script.requests
    assert second - first >= 0.95


def test_5xx_is_retried_then_the_next_provider_answers_and_the_fallback_is_recorded(tmp_path: Path) -> None:
    down = (503, {}, {"error": {"message": "overloaded"}})
    with chat_server(down) as (url0, primary), chat_server(OK) as (url1, backup):
        gw = gateway(tmp_path, url0, url1)
        reply = gw.reply(ASK, prompt="notes@2", max_tokens=5)
    assert (reply.provider, len(primary.requests), len(backup.requests)) == ("p1", 3, 1)  # 1 + max_retries 2
    (record,) = gw.usage.records()
    assert (record.outcome, record.fallback, record.provider, record.prompt) == ("ok", True, "p1", "notes@2")
    assert (record.tokens_in, record.tokens_out) == (11, 2)  # as the endpoint reported


def test_a_bad_request_is_not_retried(tmp_path: Path) -> None:
    bad = (400, {}, {"error": {"message": "unknown parameter"}})
    with chat_server(bad) as (url0, primary), chat_server(OK) as (url1, _):
        assert gateway(tmp_path, url0, url1).reply(ASK, max_tokens=5).provider == "p1"
    assert len(primary.requests) == 1


def test_when_every_provider_fails_the_error_says_why_for_each(tmp_path: Path) -> None:
    down = (500, {}, {"error": {"message": "boom"}})
    with chat_server(down) as (url0, _), chat_server((401, {}, {"error": {"message": "bad key"}})) as (url1, _):
        gw = gateway(tmp_path, url0, url1)
        with pytest.raises(ProvidersFailed, match=r"p0: InternalServerError.*\(after 3 attempts\); p1: Authenti"):
            gw.reply(ASK, max_tokens=5)
    assert [r.outcome for r in gw.usage.records()] == ["error"]


def test_an_over_long_prompt_is_refused_before_any_request_with_the_sizes(tmp_path: Path) -> None:
    with chat_server(OK) as (url, script):
        gw = gateway(
            tmp_path,
            url,
            providers={"p0": {"kind": "openai", "base_url": url, "model": "gpt-4o", "context_window": 300}},
        )
        long = [{"role": "user", "content": "word " * 400}]
        with pytest.raises(ContextWindowExceeded) as refused:
            gw.reply(long, max_tokens=50)
    assert script.requests == []
    assert str(refused.value) == (
        "the prompt takes 408 tokens and the reply up to 50 (max_tokens), 458 in all, over the context window of "
        "300 tokens of gpt-4o at provider 'p0'"
    )


def test_a_pipeline_over_its_budget_is_refused_and_the_refusal_recorded(tmp_path: Path) -> None:
    with chat_server(OK) as (url, script):
        gw = gateway(tmp_path, url, budgets={"daily_tokens": {"ask": 100}})
        with running(RunInfo("ask", "run-1", "generate")):
            gw.reply(ASK, max_tokens=40)  # reserves ~55, settles 13
            gw.reply(ASK, max_tokens=40)
            with pytest.raises(BudgetExceeded, match=r"pipeline 'ask': daily budget of 100 tokens exhausted: 26 "):
                gw.reply(ASK, max_tokens=80)
        gw.reply(ASK, max_tokens=80)  # no budget outside the pipeline
    assert len(script.requests) == 3
    records = gw.usage.records()
    assert [(r.outcome, r.pipeline, r.run_id) for r in records[:3]] == [("ok", "ask", "run-1")] * 2 + [
        ("refused", "ask", "run-1")
    ]
    assert gw.ledger.spent("pipeline", "ask") == (26, 0.0)


def test_greedy_replies_come_from_the_exact_cache_sampled_ones_never(tmp_path: Path) -> None:
    with chat_server(OK) as (url, script):
        gw = gateway(tmp_path, url)
        first = gw.reply(ASK, prompt="notes@1", temperature=0, max_tokens=5)
        again = gw.reply(ASK, prompt="notes@1", temperature=0, max_tokens=5, stream=False)
        other_version = gw.reply(ASK, prompt="notes@2", temperature=0, max_tokens=5)
        sampled = [gw.reply(ASK, prompt="notes@1", temperature=0.7, max_tokens=5) for _ in range(2)]
    assert (first.served_by, again.served_by, other_version.served_by) == ("model", "exact_cache", "model")
    assert again.text == first.text and {s.served_by for s in sampled} == {"model"}
    assert len(script.requests) == 4
    assert [r.cache for r in gw.usage.records()] == ["miss", "exact", "miss", "off", "off"]


def test_an_api_key_never_shows_in_errors_records_or_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    key = "sk-test-7f3a9c1e2bSECRET"
    # A server that quotes the key it was sent, as some do in their 401 bodies.
    quoting = (401, {}, lambda headers: {"error": {"message": f"bad key {headers['authorization']}"}})
    caplog.set_level(logging.DEBUG)
    with (
        chat_server(quoting, OK) as (url, _),
        chat_server((500, {}, lambda headers: {"error": {"message": f"oops {headers['authorization']}"}})) as (url1, _),
    ):
        providers = {
            "p0": {"kind": "openai", "base_url": url, "model": "m", "api_key": key},
            "p1": {"kind": "openai", "base_url": url1, "model": "m", "api_key": key},
        }
        gw = gateway(tmp_path, providers=providers, route=["p0", "p1"])
        with pytest.raises(ProvidersFailed) as failed:
            gw.reply(ASK, max_tokens=5)
    assert "bad key Bearer ***" in str(failed.value) and key not in str(failed.value)
    assert key not in caplog.text and "oops Bearer ***" in caplog.text
    assert key.encode() not in (tmp_path / "state" / "usage.sqlite").read_bytes()
    assert "bad key Bearer ***" in gw.usage.records()[0].error


def test_the_route_must_name_declared_providers() -> None:
    with pytest.raises(
        ValueError,
        match=r"route names provider 'lcoal', which is not declared; providers: "
        r"\['local'\]; did you mean 'local'\?",
    ):
        LlmGateway.Params(route=["lcoal"], providers={"local": {"kind": "llama_cpp"}})
    with pytest.raises(
        ValueError, match=r"a daily_usd budget needs a price for every routed model; no price for \['m'\]"
    ):
        LlmGateway.Params(
            providers={"x": {"kind": "openai", "base_url": "http://h/v1", "model": "m"}},
            route=["x"],
            budgets={"daily_usd": {"*": 1.0}},
        )


def test_breaker_skips_a_failing_provider_until_its_cooldown(tmp_path: Path) -> None:
    down = (502, {}, {"error": {"message": "bad gateway"}})
    with chat_server(down) as (url0, primary), chat_server(OK) as (url1, _):
        gw = gateway(tmp_path, url0, url1, breaker={"failures": 3, "cooldown": 0.5})
        gw.reply(ASK, max_tokens=5)  # three failed attempts open p0's circuit
        assert gw.breakers()["p0"]["state"] == "open"
        gw.reply(ASK, max_tokens=5)
        assert len(primary.requests) == 3  # skipped while open
        time.sleep(0.55)
        gw.reply(ASK, max_tokens=5)  # half-open: one trial, which fails and reopens it
        assert len(primary.requests) == 4 and gw.breakers()["p0"] == {"state": "open", "failures": 4, "opened": 2}


def test_generator_answer_through_the_gateway_says_who_served_it(tmp_path: Path) -> None:
    from components.documents import Document
    from components.generators import AnswerGenerator
    from components.resources import Given
    from tests.conftest import REPO

    passages = [Document.from_source("notes.md", "Secrets live in the environment.")]
    with chat_server(OK) as (url, script):
        gw = gateway(tmp_path, url)
        params = AnswerGenerator.Params(temperature=0, prompts_dir=str(REPO / "prompts"))
        generator = AnswerGenerator(params, Given(llm=gw))
        answers = [generator.run("Where do secrets live?", passages).answer for _ in range(2)]
    assert [a.served_by for a in answers] == ["model", "exact_cache"] and len(script.requests) == 1
    assert answers[0].text == answers[1].text == "scripted answer" and answers[0].model == "m0"
    assert [(r.prompt, r.cache) for r in gw.usage.records()] == [("rag-answer@1", "miss"), ("rag-answer@1", "exact")]


def test_the_docstring_and_readme_examples_open_with_their_env_filled_in(tmp_path: Path, monkeypatch) -> None:
    import inspect
    import re

    import yaml

    from flows.language.refs import resolve
    from tests.conftest import REPO

    monkeypatch.setenv("OPENAI_API_KEY", "sk-example")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("DAGWRIGHT_REDIS_URL", "redis://127.0.0.1:9/0")  # opening connects to neither
    monkeypatch.setenv("DAGWRIGHT_USAGE_DSN", "postgresql://u@127.0.0.1:9/x")
    readme = (REPO / "README.md").read_text().split("## The LLM gateway", 1)[1]
    examples = [inspect.getdoc(LlmGateway) or "", readme]
    for text in examples:
        block = re.search(r"```yaml\n(.*?)```", text, re.S)
        assert block is not None
        settings = resolve(yaml.safe_load(block.group(1))["resources"]["llm"]["with"], {})
        gateway = opened(LlmGateway, root=tmp_path, state_dir=tmp_path / "state", **settings)  # check() passes
        assert list(gateway.providers) == ["local", "openai"]
        gateway.close()


def test_a_bad_url_from_the_environment_is_refused_without_being_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.plan.stageparams import StageParamsError, resolve_params

    monkeypatch.setenv("DW_REDIS", "http://default:hunter2-secret@cache:6379/0")
    monkeypatch.setenv("DW_DSN", "mysql://root:hunter2-secret@db/usage")
    raw = {"redis_url": "${env:DW_REDIS}", "usage_dsn": "${env:DW_DSN}"}
    with pytest.raises(StageParamsError) as refused:
        resolve_params(LlmGateway.Params, raw, {}, where="resource 'llm'")
    assert str(refused.value) == (
        "resource 'llm': invalid params: with.redis_url: expected a Redis URL starting with redis://, rediss://, "
        "unix:// (value from the environment, not shown); with.usage_dsn: expected a PostgreSQL URL, "
        "postgresql://USER:PASSWORD@HOST:5432/DB (value from the environment, not shown)"
    )
