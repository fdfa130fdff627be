"""`store.memory`: an in-process store for tests and tiny corpora. Collections live as long as the process."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from components.documents import Document
from components.stores.base import (
    Backend,
    IndexStore,
    StoreError,
    StoreSettings,
    doc_id_of,
    manifest_of,
    matches,
    source_of,
)

_collections: dict[str, dict[str, Document]] = {}
_lock = threading.Lock()


class MemoryBackend:
    def __init__(self, name: str) -> None:
        self.name = name
        with _lock:
            self.rows = _collections.setdefault(name, {})
        self._version = 0

    def manifest(self) -> dict[str, str]:
        return manifest_of((source_of(d), doc_id_of(d)) for d in self.rows.values())

    def ids_for_sources(self, sources: list[str]) -> list[str]:
        wanted = set(sources)
        return [i for i, d in self.rows.items() if source_of(d) in wanted]

    def upsert(self, documents: list[Document]) -> None:
        dims = {len(d.embedding) for d in [*documents, *list(self.rows.values())[:1]] if d.embedding is not None}
        if len(dims) > 1:
            raise StoreError(f"store.memory '{self.name}': embedding dimensions differ: {sorted(dims)}")
        with _lock:
            self.rows.update({d.id: d for d in documents})
            self._version += 1

    def delete_ids(self, ids: list[str]) -> None:
        with _lock:
            for i in ids:
                self.rows.pop(i, None)
            self._version += 1

    def count(self, where: Mapping[str, Any] | None = None) -> int:
        return sum(1 for d in self.rows.values() if matches(d.meta, where))

    def documents(self, where: Mapping[str, Any] | None = None) -> list[Document]:
        return [d for d in self.rows.values() if matches(d.meta, where)]

    def search(self, vector: Any, top_k: int, where: Mapping[str, Any] | None = None) -> list[Document]:
        import dataclasses

        import numpy as np

        docs = self.documents(where)
        if not docs:
            return []
        scores = np.stack([d.embedding for d in docs]) @ np.asarray(vector, dtype="float32")
        best = np.argsort(-scores)[:top_k]
        return [dataclasses.replace(docs[i], score=float(scores[i])) for i in best]

    def version(self) -> str:
        return f"{id(self.rows)}:{self._version}:{len(self.rows)}"


class MemorySettings(StoreSettings):
    type: Literal["memory"] = "memory"
    prune: bool = Field(True, description="Delete chunks of sources that are no longer in the input.")

    def open(self) -> Backend:
        return MemoryBackend(self.collection)


class MemoryStore(IndexStore):
    """Indexes embedded chunks in process memory (tests, tiny corpora); gone when the process ends.

    Example:

    ```yaml
    uses: store.memory
    with: {collection: notes}
    inputs: {documents: embed.output}
    ```
    """

    name = "store.memory"
    Params: ClassVar[type[StoreSettings]] = MemorySettings
