"""`embedding.openai` through the LLM gateway, against real servers: two llama.cpp servers serving SmolLM2's
mean-pooled embeddings (the primary is killed: the backup answers, the breaker opens), and a scripted HTTP
endpoint for what a model server cannot be made to do on demand (503, 429 with Retry-After, a 401 quoting the
key). Every call leaves a usage record with prompt `embedding`; no key appears anywhere."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from components.embedders import OpenAIEmbedding
from components.gateway.errors import BudgetExceeded, ProvidersFailed
from components.gateway.resource import LlmGateway
from components.llmserver import LOCAL_MODEL
from components.resources import Given, opened
from components.runinfo import RunInfo, running
from flows.cli.main import main
from tests.helpers.chatserver import chat_server
from tests.helpers.llmservers import LlamaServer, primary_and_backup

pytestmark = pytest.mark.integration

TEXTS = ["The cat sat on the mat.", "Stock markets fell sharply today.", "A kitten rests on a rug."]
KEY = "sk-test-embeddings-0123456789"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LlamaServer, LlamaServer]]:
    with primary_and_backup(tmp_path_factory.mktemp("llama-embed")) as servers:
        yield servers


def through(gateway: LlmGateway, state: Path, **settings: Any) -> OpenAIEmbedding:
    """An embedding.openai resource calling through ``gateway`` (named `llm`), its cache off."""
    settings = {"llm": "llm", "model": LOCAL_MODEL, "cache": False, **settings}
    return opened(OpenAIEmbedding, state_dir=state, resources=Given(llm=gateway), **settings)


def direct(url: str, texts: list[str]) -> list[list[float]]:
    response = httpx.post(f"{url}/embeddings", json={"model": LOCAL_MODEL, "input": texts}, timeout=60)
    response.raise_for_status()
    return [item["embedding"] for item in sorted(response.json()["data"], key=lambda d: d["index"])]


def cosine(a: Any, b: Any) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_vectors_tokens_and_records_then_the_backup_answers_when_the_primary_dies(
    servers: tuple[LlamaServer, LlamaServer], tmp_path: Path
) -> None:
    primary, backup = servers
    providers = {
        "primary": {"kind": "llama_cpp", "base_url": primary.url, "max_retries": 1},
        "backup": {"kind": "llama_cpp", "base_url": backup.url},
    }
    gateway = opened(
        LlmGateway,
        state_dir=tmp_path,
        providers=providers,
        route=["primary", "backup"],
        backoff=0.05,
        breaker={"failures": 2, "cooldown": 60},
    )
    embedder = through(gateway, tmp_path)
    try:
        with running(RunInfo(pipeline="rag-ingest", run_id="run-1", stage="embed")):
            vectors = embedder.vectors(TEXTS)
            for got, expected in zip(vectors, direct(primary.url, TEXTS), strict=True):
                assert cosine(got, expected) > 0.9999  # the server's own vectors, normalized
            assert cosine(vectors[0], vectors[2]) > cosine(vectors[0], vectors[1])  # cat/kitten over markets
            primary.kill()
            again = embedder.vectors(["The cat sat on the mat."])
        assert cosine(again[0], vectors[0]) > 0.9999  # the backup serves the same model
        assert gateway.breakers()["primary"]["state"] == "open"  # two failed attempts: retried, then given up
        first, second = gateway.usage_records()
    finally:
        embedder.close()
        gateway.close()
    counted = sum(
        len(httpx.post(f"{backup.url.removesuffix('/v1')}/tokenize", json={"content": t}).json()["tokens"])
        for t in TEXTS
    )
    assert (first.prompt, first.model, first.provider, first.outcome, first.fallback) == (
        "embedding",
        LOCAL_MODEL,
        "primary",
        "ok",
        False,
    )
    assert first.tokens_in == counted and first.tokens_out == 0 and first.latency_ms > 0
    assert (first.pipeline, first.run_id, first.stage) == ("rag-ingest", "run-1", "embed")
    assert (second.provider, second.outcome, second.fallback) == ("backup", "ok", True)


def embeddings(*vectors: list[float], prompt_tokens: int = 7) -> dict:
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return {
        "object": "list",
        "data": data,
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def scripted_gateway(url: str, state: Path, **settings: Any) -> LlmGateway:
    provider = {"kind": "openai", "base_url": url, "model": "gpt-4o-mini", "api_key": KEY, "max_retries": 2}
    return opened(
        LlmGateway, state_dir=state, providers={"hosted": provider}, route=["hosted"], backoff=0.05, **settings
    )


def test_retryable_failures_are_retried_honouring_retry_after_and_priced(tmp_path: Path) -> None:
    responses = [
        (503, {}, {"error": {"message": "overloaded"}}),
        (429, {"retry-after": "0.3"}, {"error": {"message": "slow down"}}),
        (200, {}, embeddings([3.0, 4.0], [1.0, 0.0], prompt_tokens=9)),
    ]
    prices = {"text-embedding-3-small": {"input_per_1k": 0.02}}
    with chat_server(*responses) as (url, script):
        gateway = scripted_gateway(url, tmp_path, prices=prices)
        embedder = through(gateway, tmp_path, model="text-embedding-3-small")
        try:
            vectors = embedder.vectors(["hello there", "general kenobi"])
        finally:
            embedder.close()
            gateway.close()
    assert [[round(float(x), 3) for x in v] for v in vectors] == [[0.6, 0.8], [1.0, 0.0]]
    assert len(script.requests) == 3 and script.requests[2][0] - script.requests[1][0] >= 0.3  # Retry-After
    assert script.requests[0][1]["model"] == "text-embedding-3-small"
    assert script.requests[0][2]["authorization"] == f"Bearer {KEY}"
    (record,) = gateway.usage_records()
    assert (record.outcome, record.tokens_in, record.cost_usd) == ("ok", 9, 0.02 * 9 / 1000)


def test_a_refused_key_is_never_shown_and_budgets_refuse_before_the_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    quoting = (401, {}, {"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}})
    caplog.set_level(logging.DEBUG)
    with chat_server(quoting) as (url, script):
        gateway = scripted_gateway(url, tmp_path, budgets={"daily_tokens": {"tight": 5}})
        embedder = through(gateway, tmp_path, model="text-embedding-3-small")
        try:
            with pytest.raises(ProvidersFailed) as failed:
                embedder.vectors(["hello"])
            with running(RunInfo(pipeline="tight")), pytest.raises(BudgetExceeded):
                embedder.vectors(["a text of more than five tokens, counted offline before any call"])
        finally:
            embedder.close()
            gateway.close()
    assert len(script.requests) == 1  # a 401 is not retried; the refused budget sent nothing
    assert "invalid_api_key" in str(failed.value) or "Incorrect API key" in str(failed.value)
    assert [r.outcome for r in gateway.usage_records()] == ["error", "refused"]
    shown = [str(failed.value), caplog.text, *(r.error for r in gateway.usage_records())]
    assert all(KEY not in text for text in shown) and "***" in str(failed.value)


def test_a_pipeline_embeds_through_its_gateway(
    servers: tuple[LlamaServer, LlamaServer], write_pipelines: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _, backup = servers
    file = write_pipelines(f"""
        resources:
          llm:
            uses: llm.gateway
            with:
              providers: {{embedder: {{kind: llama_cpp, base_url: "{backup.url}"}}}}
              route: [embedder]
          remote: {{uses: embedding.openai, with: {{llm: llm, model: {LOCAL_MODEL}}}}}
        pipelines:
          p:
            params: {{text: {{type: string, default: A kitten rests on a rug.}}}}
            stages:
              embed: {{uses: embedder.text, with: {{model: remote}}, inputs: {{text: "${{params.text}}"}}}}
        """)
    assert main(["-f", str(file), "run", "p", "--local"]) == 0
    capsys.readouterr()
    assert main(["-f", str(file), "usage", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)  # recorded by the pipeline's gateway, in its state folder
    assert summary["by_prompt"]["embedding"]["calls"] == 1 and summary["by_pipeline"]["p"]["calls"] == 1


def test_the_direct_form_still_works_and_says_it_is_deprecated(
    servers: tuple[LlamaServer, LlamaServer], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, backup = servers
    embedder = opened(OpenAIEmbedding, state_dir=tmp_path, base_url=backup.url, model=LOCAL_MODEL, cache=False)
    try:
        vectors = embedder.vectors(TEXTS[:1])
    finally:
        embedder.close()
    assert cosine(vectors[0], direct(backup.url, TEXTS[:1])[0]) > 0.9999
    assert "this form is deprecated: declare the endpoint as a provider of an llm.gateway resource" in caplog.text
