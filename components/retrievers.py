"""Retrievers: dense (cosine top-k above a score threshold), BM25, and hybrid by reciprocal rank fusion.

The default `score_threshold` of 0.3 cosine is calibrated for all-MiniLM-L6-v2 (`bench/rag.py threshold`): on
the shipped docs, questions score 0.43-0.79 (median 0.60) against the passage that answers them, and off-topic
questions at most 0.12 against any passage. The seed's 0.75 would have rejected 7 of those 8 answers.

Every retrieved document carries ``meta["relevance"]`` (cosine similarity to the question for dense and hybrid,
the BM25 score for BM25), which answers cite.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from typing import Any

from pydantic import Field

from components.base import Component, ComponentParams, PermanentError
from components.documents import Document
from components.resources import ResourceProvider
from components.stores.base import StoreError, StoreRef, VectorStore

DEFAULT_SCORE_THRESHOLD = 0.3


class RetrieverParams(ComponentParams):
    store: StoreRef = Field(description="The vector store resource to search (declared under `resources:`).")
    top_k: int = Field(5, ge=1, le=200, description="How many passages to return (an input may override it).")
    filters: dict[str, Any] = Field(default_factory=dict, description="Metadata equality filters (value or list).")


class DenseParams(RetrieverParams):
    score_threshold: float = Field(
        DEFAULT_SCORE_THRESHOLD, ge=-1, le=1, description="Drop passages whose cosine similarity is below this."
    )


class EmptyStoreError(StoreError, PermanentError):
    """A retriever's store holds no chunks (never ingested, or another collection): no question can be answered
    from it, and asking again will not change that."""


def nonempty_store(resources: ResourceProvider, name: str) -> VectorStore:
    """The store resource ``name``; an EmptyStoreError when it holds nothing, rather than an answer that says it
    found nothing, which reads as if the documents did not cover the question."""
    store = resources.get(name, VectorStore)
    with store.errors("count"):
        empty = store.count() == 0
    if empty:
        raise EmptyStoreError(f"store '{name}' is empty: run rag-ingest (or the pipeline that writes to it) first")
    return store


def _with_relevance(doc: Document, relevance: float, score: float) -> Document:
    return dataclasses.replace(doc, meta={**doc.meta, "relevance": round(relevance, 4)}, score=score)


class DenseRetriever(Component[DenseParams]):
    """The top-k chunks nearest to a query vector whose cosine similarity clears `score_threshold`.

    Example:

    ```yaml
    uses: retriever.dense
    with: {store: docs, score_threshold: 0.35}
    inputs: {vector: embed_question.output, top_k: "${params.top_k}"}
    ```
    """

    name = "retriever.dense"
    cacheable = False  # the store changes under it

    def run(self, vector: list[float], top_k: int | None = None) -> list[Document]:
        p = self.params
        store = nonempty_store(self.resources, p.store)
        with store.errors("search"):
            hits = store.search(vector, top_k or p.top_k, p.filters or None)
        return [_with_relevance(d, d.score or 0.0, d.score or 0.0) for d in hits if (d.score or 0) >= p.score_threshold]


_TOKEN = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "does",
        "do",
        "can",
    ]
)


def terms(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS]


class BM25Index:
    """Okapi BM25 over a store's chunks, rebuilt when the store's version changes."""

    def __init__(self, documents: list[Document], k1: float, b: float) -> None:
        self.documents, self.k1, self.b = documents, k1, b
        self.freqs = [Counter(terms(d.content)) for d in documents]
        self.lengths = [sum(f.values()) for f in self.freqs]
        self.avg_length = (sum(self.lengths) / len(self.lengths)) if self.lengths else 0.0
        self.postings: dict[str, list[int]] = {}
        for i, f in enumerate(self.freqs):
            for term in f:
                self.postings.setdefault(term, []).append(i)

    def scores(self, query: str) -> dict[int, float]:
        n = len(self.documents)
        out: dict[int, float] = {}
        for term in set(terms(query)):
            docs = self.postings.get(term, [])
            idf = math.log(1 + (n - len(docs) + 0.5) / (len(docs) + 0.5))
            for i in docs:
                tf = self.freqs[i][term]
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[i] / (self.avg_length or 1))
                out[i] = out.get(i, 0.0) + idf * tf * (self.k1 + 1) / norm
        return out

    def top(self, query: str, k: int) -> list[tuple[Document, float]]:
        scored = sorted(self.scores(query).items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return [(self.documents[i], s) for i, s in scored]


def bm25_index(store: VectorStore, filters: dict[str, Any], k1: float, b: float) -> BM25Index:
    """The store's BM25 index for these filters, rebuilt when the store's content changes."""

    def build() -> BM25Index:
        with store.errors("reading chunks for BM25"):
            return BM25Index(store.documents(filters or None), k1, b)

    return store.derived(f"bm25:{sorted(filters.items())!r}:{k1}:{b}", build)


class BM25Params(RetrieverParams):
    k1: float = Field(1.5, ge=0, le=5)
    b: float = Field(0.75, ge=0, le=1)


class BM25Retriever(Component[BM25Params]):
    """The top-k chunks by Okapi BM25 keyword score (index kept in memory, rebuilt when the store changes).

    Example:

    ```yaml
    uses: retriever.bm25
    with: {store: docs, top_k: 5}
    inputs: {query: "${params.question}"}
    ```
    """

    name = "retriever.bm25"
    cacheable = False

    def run(self, query: str, top_k: int | None = None) -> list[Document]:
        p = self.params
        index = bm25_index(nonempty_store(self.resources, p.store), p.filters, p.k1, p.b)
        return [_with_relevance(d, s, s) for d, s in index.top(query, top_k or p.top_k)]


class HybridParams(DenseParams, BM25Params):
    candidates: int = Field(50, ge=1, le=1000, description="How many hits each retriever contributes.")
    rrf_k: int = Field(60, ge=1, le=1000, description="Reciprocal rank fusion constant: 1 / (rrf_k + rank).")


class HybridRetriever(Component[HybridParams]):
    """Dense and BM25 hits fused by reciprocal rank fusion; a fused passage is kept only if its cosine
    similarity to the question clears `score_threshold`, so "nothing relevant" means the same as for dense.

    Example:

    ```yaml
    uses: retriever.hybrid
    with: {store: docs, candidates: 50}
    inputs: {query: "${params.question}", vector: embed_question.output, top_k: "${params.top_k}"}
    ```
    """

    name = "retriever.hybrid"
    cacheable = False

    def run(self, query: str, vector: list[float], top_k: int | None = None) -> list[Document]:
        import numpy as np

        p = self.params
        store = nonempty_store(self.resources, p.store)
        with store.errors("search"):
            dense = store.search(vector, p.candidates, p.filters or None)
        keyword = bm25_index(store, p.filters, p.k1, p.b).top(query, p.candidates)
        fused: dict[str, float] = {}
        docs: dict[str, Document] = {}
        for ranking in (dense, [d for d, _ in keyword]):
            for rank, d in enumerate(ranking, start=1):
                fused[d.id] = fused.get(d.id, 0.0) + 1.0 / (p.rrf_k + rank)
                docs.setdefault(d.id, d)
        query_vector = np.asarray(vector, dtype="float32")
        out = []
        for doc_id in sorted(fused, key=lambda i: (-fused[i], i)):
            cosine = float(np.dot(docs[doc_id].embedding, query_vector))
            if cosine >= p.score_threshold:
                out.append(_with_relevance(docs[doc_id], cosine, fused[doc_id]))
            if len(out) == (top_k or p.top_k):
                break
        return out
