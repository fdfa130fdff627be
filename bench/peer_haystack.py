"""The Haystack 3 side of bench/peer.py: dagwright's chunker, embedder and Chroma store as Haystack components.

No `from __future__ import annotations` here: Haystack reads the `run` annotations as types to check connections.
"""

from typing import Any

from haystack import Pipeline, component

from components.chunkers import SectionChunker
from components.documents import Document
from components.embedders import EmbedDocuments, OnnxEmbedding
from components.resources import Given, opened
from components.stores.base import IndexReport, WriteStore
from components.stores.chroma import ChromaStore


@component
class Chunk:
    def __init__(self, chunking: dict[str, Any]) -> None:
        self.chunker = SectionChunker(SectionChunker.Params(**chunking))

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        return {"documents": self.chunker.run(documents)}


@component
class Embed:
    def __init__(self, model: OnnxEmbedding) -> None:
        self.embedder = EmbedDocuments(EmbedDocuments.Params(model="minilm"), Given(minilm=model))

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        return {"documents": self.embedder.run(documents)}


@component
class Index:
    def __init__(self, path: str) -> None:
        store = opened(ChromaStore, path=path, collection="ingest")
        self.writer = WriteStore(WriteStore.Params(store="store"), Given(store=store))

    @component.output_types(report=IndexReport)
    def run(self, documents: list[Document]) -> dict[str, Any]:
        return {"report": self.writer.run(documents).report}


def indexing_pipeline(store_path: str, chunking: dict[str, Any], model: OnnxEmbedding) -> Pipeline:
    """``model``: the MiniLM resource, opened once by the caller and shared by every run."""
    pipeline = Pipeline()
    pipeline.add_component("chunk", Chunk(chunking))
    pipeline.add_component("embed", Embed(model))
    pipeline.add_component("index", Index(store_path))
    pipeline.connect("chunk.documents", "embed.documents")
    pipeline.connect("embed.documents", "index.documents")
    return pipeline
