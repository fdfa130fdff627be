"""The semantic cache with the real MiniLM: its labelled evaluation set (no false hits at the shipped threshold),
and through the gateway against a scripted endpoint: paraphrase hits, changed context misses, temperature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.gateway.resource import LlmGateway
from components.gateway.semantic import QuestionEmbedder, content_tokens
from components.gateway.settings import SemanticSettings
from components.resources import opened
from tests.helpers.chatserver import OK, chat_server
from tests.helpers.semantic_pairs import load_pairs, rate, served

SEMANTIC = {"exact": True, "semantic": {"threshold": 0.95}}


@pytest.fixture(scope="module")
def embedder() -> QuestionEmbedder:
    return QuestionEmbedder()


def test_content_tokens_keep_extensions_numbers_identifiers_and_order() -> None:
    assert content_tokens("How do I create a .pyc file?") == ("create", ".pyc", "file")
    assert content_tokens("What's new in Python 3.12?") == ("new", "python", "3.12")
    assert content_tokens("Why can't I raise max_tokens in rag-query?") == ("not", "raise", "max_tokens", "rag-query")
    assert content_tokens("How do I delete branches?") == content_tokens("how to delete a branch")


def test_the_evaluation_set_has_no_false_hit_at_the_shipped_threshold(embedder: QuestionEmbedder) -> None:
    pairs, threshold = load_pairs(), SemanticSettings().threshold
    assert len(pairs["hit"]) >= 40 and len(pairs["miss"]) >= 40
    assert rate(served(pairs["miss"], threshold, guard=True, embedder=embedder)) == 0.0
    assert rate(served(pairs["hit"], threshold, guard=True, embedder=embedder)) >= 0.6


def test_cosine_alone_would_serve_near_misses(embedder: QuestionEmbedder) -> None:
    """Why the guard exists: without it, the set's swapped-order and one-word near misses clear 0.95."""
    unguarded = served(load_pairs()["miss"], SemanticSettings().threshold, guard=False, embedder=embedder)
    assert rate(unguarded) > 0


def semantic_gateway(tmp_path: Path, url: str, **settings: Any) -> LlmGateway:
    providers = {"p0": {"kind": "openai", "base_url": url, "model": "m0"}}
    return opened(
        LlmGateway,
        root=tmp_path,
        state_dir=tmp_path / "state",
        providers=providers,
        route=["p0"],
        **{"cache": SEMANTIC, **settings},
    )


def ask(gw: LlmGateway, question: str, *, context: str = "docs-v1", temperature: float = 0.1) -> Any:
    messages = [{"role": "user", "content": f"Context: {context}\nQuestion: {question}"}]
    return gw.reply(
        messages, prompt="rag-answer@1", question=question, context=context, temperature=temperature, max_tokens=5
    )


def test_a_paraphrase_is_served_by_the_semantic_cache_and_recorded(tmp_path: Path) -> None:
    with chat_server(OK) as (url, script):
        gw = semantic_gateway(tmp_path, url)
        first = ask(gw, "How do I delete a git branch?")
        again = ask(gw, "how can I delete a git branch")
        near_miss = ask(gw, "How do I rename a git branch?")
    assert [r.served_by for r in (first, again, near_miss)] == ["model", "semantic_cache", "model"]
    assert again.text == first.text and len(script.requests) == 2
    assert [r.cache for r in gw.usage.records()] == ["miss", "semantic", "miss"]


def test_the_same_question_over_changed_context_is_a_miss(tmp_path: Path) -> None:
    with chat_server(OK) as (url, script):
        gw = semantic_gateway(tmp_path, url)
        ask(gw, "Where do secrets live?", context="docs-v1")
        changed = ask(gw, "Where do secrets live?", context="docs-v2")
        same = ask(gw, "Where do the secrets live?", context="docs-v1")
    assert (changed.served_by, same.served_by, len(script.requests)) == ("model", "semantic_cache", 2)


def test_at_temperature_0_3_and_above_the_semantic_cache_is_not_used(tmp_path: Path) -> None:
    with chat_server(OK) as (url, script):
        gw = semantic_gateway(tmp_path, url)
        replies = [ask(gw, "Where do secrets live?", temperature=0.3) for _ in range(2)]
        ask(gw, "Where do secrets live?", temperature=0.29)
        below = ask(gw, "Where do secrets live?", temperature=0.29)
    assert [r.served_by for r in replies] == ["model", "model"] and below.served_by == "semantic_cache"
    assert len(script.requests) == 3
    assert [r.cache for r in gw.usage.records()] == ["off", "off", "miss", "semantic"]


def test_without_a_question_or_a_semantic_setting_nothing_is_embedded(tmp_path: Path) -> None:
    with chat_server(OK) as (url, _):
        gw = semantic_gateway(tmp_path, url)
        gw.reply([{"role": "user", "content": "hi"}], temperature=0.1, max_tokens=5)
        plain = semantic_gateway(tmp_path / "plain", url, cache={"exact": True})
        ask(plain, "Where do secrets live?")
    assert gw.embedder.session is None and plain.embedder.session is None
    assert [r.cache for r in gw.usage.records()] == ["off"]


def test_generator_answer_sends_the_question_and_the_passages_identity(tmp_path: Path) -> None:
    from components.documents import Document
    from components.generators import AnswerGenerator
    from components.resources import Given
    from tests.conftest import REPO

    old = [Document.from_source("notes.md", "Secrets live in the environment.")]
    new = [Document.from_source("notes.md", "Secrets live in a vault.")]
    with chat_server(OK) as (url, script):
        gw = semantic_gateway(tmp_path, url)
        generator = AnswerGenerator(AnswerGenerator.Params(prompts_dir=str(REPO / "prompts")), Given(llm=gw))
        answers = [
            generator.run(question, documents).answer
            for question, documents in [
                ("Where do secrets live?", old),
                ("Where do the secrets live?", old),
                ("Where do the secrets live?", new),
            ]
        ]
    assert [a.served_by for a in answers] == ["model", "semantic_cache", "model"] and len(script.requests) == 2
