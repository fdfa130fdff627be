"""Retrievers on a real embedded corpus, and the generator against the real local llama.cpp server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from components.documents import Document
from components.embedders import OnnxEmbedding
from components.generators import NO_CONTEXT_ANSWER, AnswerGenerator, OpenAIProvider
from components.resources import opened
from components.retrievers import BM25Retriever, DenseRetriever, HybridRetriever
from components.stores.base import sync
from components.stores.memory import MemoryStore
from tests.conftest import REPO
from tests.helpers.resources import Given, open_resource

PASSAGES = {
    "cache.md": "Stage results are cached under a key made of the component name, its params and input hashes.",
    "secrets.md": "Secrets are read from environment variables and are never printed in logs or errors.",
    "ids.md": "Error code E4711 means the pipelines file has a duplicate stage id.",
    "weather.md": "It rained in Lisbon for most of March, and the rivers rose.",
}


MODEL = None


def model() -> OnnxEmbedding:
    global MODEL
    MODEL = MODEL or open_resource(OnnxEmbedding, cache=False)
    return MODEL


def embedded(docs: list[Document]) -> list[Document]:
    vectors = model().vectors([d.content for d in docs])
    return [Document(d.id, d.content, {**d.meta, "doc_id": d.id}, v) for d, v in zip(docs, vectors, strict=True)]


@pytest.fixture
def store() -> Given:
    memory = open_resource(MemoryStore, collection="retrieval")
    sync(memory, embedded([Document.from_source(s, t) for s, t in PASSAGES.items()]), prune=True)
    return Given(docs=memory)


def ask(text: str) -> list[float]:
    return [float(x) for x in model().vectors([text])[0]]


def test_dense_ranks_by_meaning_and_applies_the_threshold(store: Given) -> None:
    question = "How are environment secrets handled?"
    hits = DenseRetriever(DenseRetriever.Params(store="docs", score_threshold=0.0), store).run(ask(question), top_k=2)
    assert hits[0].meta["source"] == "secrets.md"
    assert hits[0].meta["relevance"] >= hits[1].meta["relevance"]
    strict = DenseRetriever(DenseRetriever.Params(store="docs"), store).run(ask("Who won the 1998 football world cup?"))
    assert strict == []  # nothing clears the calibrated default threshold


def test_bm25_finds_exact_rare_terms(store: Given) -> None:
    hits = BM25Retriever(BM25Retriever.Params(store="docs"), store).run("E4711", top_k=3)
    assert [h.meta["source"] for h in hits] == ["ids.md"]


def test_hybrid_fuses_both_rankings(store: Given) -> None:
    retriever = HybridRetriever(HybridRetriever.Params(store="docs", score_threshold=0.0), store)
    question = "what does E4711 mean for my pipelines file?"
    hits = retriever.run(question, ask(question), top_k=2)
    assert hits[0].meta["source"] == "ids.md"
    assert hits[0].score is not None and hits[0].score > hits[1].score


def test_bm25_index_follows_store_changes(store: Given) -> None:
    retriever = BM25Retriever(BM25Retriever.Params(store="docs"), store)
    assert retriever.run("zebra") == []
    sync(store.resources["docs"], embedded([Document.from_source("zoo.md", "A zebra lives in the zoo.")]), prune=False)
    assert [h.meta["source"] for h in retriever.run("zebra")] == ["zoo.md"]


def test_no_passage_means_an_explicit_answer_and_no_model_call() -> None:
    # An endpoint that does not exist: if the model were called, this would fail.
    dead = open_resource(OpenAIProvider, base_url="http://127.0.0.1:9/v1", timeout=1, max_retries=0)
    answer = AnswerGenerator(AnswerGenerator.Params(), Given(llm=dead)).run("anything?", []).answer
    assert answer.text == NO_CONTEXT_ANSWER and answer.sources == [] and not answer.grounded


@pytest.mark.integration
@pytest.mark.parametrize("stream", [False, True])
def test_local_llm_answers_with_cited_sources(store: Given, local_llm: OpenAIProvider, stream: bool) -> None:
    question = "How are secrets handled?"
    passages = DenseRetriever(DenseRetriever.Params(store="docs", score_threshold=0.0), store).run(
        ask(question), top_k=2
    )
    params = AnswerGenerator.Params(prompts_dir=str(REPO / "prompts"), max_tokens=60, stream=stream)
    answer = AnswerGenerator(params, Given(llm=local_llm)).run(question, passages).answer
    assert answer.grounded and answer.text
    assert answer.prompt == "rag-answer@1" and answer.model == "smollm2-135m-instruct"
    assert answer.usage["prompt_tokens"] > 20 and 0 < answer.usage["completion_tokens"] <= 60
    assert [s.source for s in answer.sources] == [p.meta["source"] for p in passages]
    assert answer.sources[0].relevance == passages[0].meta["relevance"]


@pytest.fixture(scope="module")
def local_llm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAIProvider]:
    """The embedded model, started by its resource for this module's tests and stopped after them."""
    provider = opened(OpenAIProvider, root=REPO, state_dir=tmp_path_factory.mktemp("llm"))
    yield provider
    provider.close()


@pytest.mark.integration
def test_the_local_server_belongs_to_its_resource(local_llm: OpenAIProvider) -> None:
    from components.llmserver import LocalServer

    mine = open_resource(OpenAIProvider)
    assert isinstance(mine.server, LocalServer) and mine.server.process is not None
    process = mine.server.process
    assert mine.chat([{"role": "user", "content": "Say yes."}], max_tokens=3)[0]
    mine.close()
    assert process.poll() is not None  # closing the resource stopped its server
    assert local_llm.server is not None and local_llm.server.process.poll() is None  # the other one runs on


@pytest.mark.integration
def test_openai_embedder_against_a_real_openai_compatible_endpoint(local_llm: OpenAIProvider) -> None:
    from components.embedders import EmbedDocuments, EmbedText, OpenAIEmbedding
    from components.llmserver import LOCAL_MODEL

    assert local_llm.server is not None and local_llm.server.url
    remote = open_resource(OpenAIEmbedding, base_url=f"{local_llm.server.url}/v1", model=LOCAL_MODEL, batch_size=2)
    given = Given(remote=remote)
    docs = [Document.from_source(f"d{i}", text) for i, text in enumerate(["red apples", "green pears", "tax law"])]
    vectors = [d.embedding for d in EmbedDocuments(EmbedDocuments.Params(model="remote"), given).run(docs)]
    assert len({len(v) for v in vectors}) == 1 and abs(float(vectors[0] @ vectors[0]) - 1) < 1e-4
    query = EmbedText(EmbedText.Params(model="remote"), given).run("red apples")
    assert abs(sum(a * b for a, b in zip(query, vectors[0], strict=True)) - 1) < 1e-3  # same text, same vector


def test_the_generators_prompt_file_is_part_of_its_cache_key_and_only_greedy_decoding_is_cached() -> None:
    params = AnswerGenerator.Params(prompt="rag-answer@1")
    assert AnswerGenerator.referenced_files(params, REPO) == [REPO / "prompts" / "rag-answer.v1.yaml"]
    assert AnswerGenerator.referenced_files(AnswerGenerator.Params(prompt="nope@9"), REPO) == []  # fails at run
    assert AnswerGenerator.deterministic(AnswerGenerator.Params(temperature=0))
    assert not AnswerGenerator.deterministic(AnswerGenerator.Params(temperature=0.1))
