"""The embedding models for real: shape, normalization, meaning, batching and the embedding cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from components.documents import Document
from components.embedders import EmbedDocuments, EmbedText, OnnxEmbedding
from tests.helpers.resources import Given, open_resource


class CountingEmbedding(OnnxEmbedding):
    """The real model, counting the texts it actually embeds."""

    embedded: int = 0

    def embed_texts(self, texts: list[str]):
        CountingEmbedding.embedded += len(texts)
        return super().embed_texts(texts)


def test_vectors_are_normalized_and_capture_meaning() -> None:
    model = open_resource(OnnxEmbedding, cache=False)
    v = model.vectors(["The cat sat on the mat.", "A feline rested on the rug.", "Stock markets fell sharply."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > 0.45 > v[0] @ v[2]


def test_batching_and_length_sorting_do_not_change_vectors() -> None:
    texts = ["short", "a much longer sentence with many more words in it than the first", "mid length text here"]
    one = open_resource(OnnxEmbedding, cache=False, batch_size=1).vectors(texts)
    many = open_resource(OnnxEmbedding, cache=False, batch_size=3).vectors(texts)
    assert np.allclose(one, many, atol=1e-4)


def test_long_texts_are_truncated_to_the_window_not_rejected() -> None:
    vector = open_resource(OnnxEmbedding, cache=False).vectors(["word " * 2000])
    assert vector.shape == (1, 384) and np.isfinite(vector).all()


def test_cache_embeds_each_text_once_across_instances() -> None:
    CountingEmbedding.embedded = 0
    docs = [Document.from_source(f"d{i}", f"text number {i}") for i in range(5)]
    first = EmbedDocuments(EmbedDocuments.Params(model="m"), Given(m=open_resource(CountingEmbedding))).run(docs)
    again = EmbedDocuments(EmbedDocuments.Params(model="m"), Given(m=open_resource(CountingEmbedding)))
    second = again.run([*docs, Document.from_source("d5", "a new text")])
    assert CountingEmbedding.embedded == 6  # five, then only the new one
    assert (Path(os.environ["DAGWRIGHT_HOME"]) / "embeddings.sqlite").is_file()  # in the one state directory
    assert all(np.array_equal(a.embedding, b.embedding) for a, b in zip(first, second, strict=False))


def test_text_embedder_matches_document_embedder() -> None:
    text = "How are results cached?"
    given = Given(minilm=open_resource(OnnxEmbedding))
    as_query = EmbedText(EmbedText.Params(), given).run(text)
    as_doc = EmbedDocuments(EmbedDocuments.Params(), given).run([Document.from_source("q", text)])[0].embedding
    assert len(as_query) == 384 and np.allclose(as_query, as_doc, atol=1e-6)
