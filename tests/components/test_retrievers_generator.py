"""Retrievers on a real embedded corpus, and the generator against the real local llama.cpp server."""

from __future__ import annotations

import pytest

from components.documents import Document
from components.embedders import OnnxEmbedder, OnnxTextEmbedder
from components.generators import NO_CONTEXT_ANSWER, OpenAIGenerator
from components.retrievers import BM25Retriever, DenseRetriever, HybridRetriever
from components.stores.base import open_backend, sync
from components.stores.memory import MemorySettings
from tests.conftest import REPO

PASSAGES = {
    "cache.md": "Stage results are cached under a key made of the component name, its params and input hashes.",
    "secrets.md": "Secrets are read from environment variables and are never printed in logs or errors.",
    "ids.md": "Error code E4711 means the pipelines file has a duplicate stage id.",
    "weather.md": "It rained in Lisbon for most of March, and the rivers rose.",
}


@pytest.fixture
def store() -> MemorySettings:
    settings = MemorySettings(collection="retrieval")
    docs = [Document.from_source(s, t) for s, t in PASSAGES.items()]
    chunks = [Document(d.id, d.content, {**d.meta, "doc_id": d.id}) for d in docs]
    sync(open_backend(settings), OnnxEmbedder().run(chunks), prune=True)
    return settings


def ask(text: str) -> list[float]:
    return OnnxTextEmbedder().run(text)


def test_dense_ranks_by_meaning_and_applies_the_threshold(store: MemorySettings) -> None:
    question = "How are environment secrets handled?"
    hits = DenseRetriever(DenseRetriever.Params(store=store, score_threshold=0.0)).run(ask(question), top_k=2)
    assert hits[0].meta["source"] == "secrets.md"
    assert hits[0].meta["relevance"] >= hits[1].meta["relevance"]
    strict = DenseRetriever(DenseRetriever.Params(store=store)).run(ask("Who won the 1998 football world cup?"))
    assert strict == []  # nothing clears the calibrated default threshold


def test_bm25_finds_exact_rare_terms(store: MemorySettings) -> None:
    hits = BM25Retriever(BM25Retriever.Params(store=store)).run("E4711", top_k=3)
    assert [h.meta["source"] for h in hits] == ["ids.md"]


def test_hybrid_fuses_both_rankings(store: MemorySettings) -> None:
    retriever = HybridRetriever(HybridRetriever.Params(store=store, score_threshold=0.0))
    question = "what does E4711 mean for my pipelines file?"
    hits = retriever.run(question, ask(question), top_k=2)
    assert hits[0].meta["source"] == "ids.md"
    assert hits[0].score is not None and hits[0].score > hits[1].score


def test_bm25_index_follows_store_changes(store: MemorySettings) -> None:
    retriever = BM25Retriever(BM25Retriever.Params(store=store))
    assert retriever.run("zebra") == []
    doc = Document.from_source("zoo.md", "A zebra lives in the zoo.")
    sync(
        open_backend(store),
        OnnxEmbedder().run([Document(doc.id, doc.content, {**doc.meta, "doc_id": doc.id})]),
        prune=False,
    )
    assert [h.meta["source"] for h in retriever.run("zebra")] == ["zoo.md"]


def test_no_passage_means_an_explicit_answer_and_no_model_call() -> None:
    # An endpoint that does not exist: if the model were called, this would fail.
    generator = OpenAIGenerator(OpenAIGenerator.Params(base_url="http://127.0.0.1:9/v1", timeout=1))
    answer = generator.run("anything?", []).answer
    assert answer.text == NO_CONTEXT_ANSWER and answer.sources == [] and not answer.grounded


@pytest.mark.integration
@pytest.mark.parametrize("stream", [False, True])
def test_local_llm_answers_with_cited_sources(store: MemorySettings, stream: bool) -> None:
    question = "How are secrets handled?"
    passages = DenseRetriever(DenseRetriever.Params(store=store, score_threshold=0.0)).run(ask(question), top_k=2)
    params = OpenAIGenerator.Params(prompts_dir=str(REPO / "prompts"), max_tokens=60, stream=stream)
    answer = OpenAIGenerator(params).run(question, passages).answer
    assert answer.grounded and answer.text
    assert answer.prompt == "rag-answer@1" and answer.model == "smollm2-135m-instruct"
    assert answer.usage["prompt_tokens"] > 20 and 0 < answer.usage["completion_tokens"] <= 60
    assert [s.source for s in answer.sources] == [p.meta["source"] for p in passages]
    assert answer.sources[0].relevance == passages[0].meta["relevance"]


@pytest.mark.integration
def test_local_server_is_started_once_and_reused() -> None:
    from components.llmserver import LocalServer

    first = LocalServer.base_url()
    assert LocalServer.base_url() == first
    process = LocalServer._process
    LocalServer.stop()
    assert process is not None and process.poll() is not None  # stopped cleanly


@pytest.mark.integration
def test_openai_embedder_against_a_real_openai_compatible_endpoint() -> None:
    from components.embedders import OpenAIEmbedder, OpenAITextEmbedder
    from components.llmserver import LOCAL_MODEL, LocalServer

    params = {"base_url": LocalServer.base_url(), "model": LOCAL_MODEL, "batch_size": 2}
    docs = [Document.from_source(f"d{i}", text) for i, text in enumerate(["red apples", "green pears", "tax law"])]
    embedded = OpenAIEmbedder(OpenAIEmbedder.Params(**params)).run(docs)
    vectors = [d.embedding for d in embedded]
    assert len({len(v) for v in vectors}) == 1 and abs(float(vectors[0] @ vectors[0]) - 1) < 1e-4
    query = OpenAITextEmbedder(OpenAITextEmbedder.Params(**params)).run("red apples")
    assert abs(sum(a * b for a, b in zip(query, vectors[0], strict=True)) - 1) < 1e-3  # same text, same vector
