"""`store.memory`: an in-process store for tests and tiny corpora. Its chunks live as long as the resource, that
is, as long as the process that opened it."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from components.documents import Document
from components.stores.base import StoreSettings, VectorStore, content_hash, matches, source_of


class MemoryStore(VectorStore[StoreSettings]):
    """Embedded chunks in process memory (tests, tiny corpora); gone when the process ends. Exact search.

    Example:

    ```yaml
    resources:
      notes: {uses: store.memory, with: {collection: notes}}
    ```
    """

    name = "store.memory"

    def open(self) -> None:
        self.rows: dict[str, Document] = {}
        self._lock = threading.Lock()
        self._version = 0
        self._manifest: dict[str, str] = {}

    def manifest(self) -> dict[str, str]:
        return dict(self._manifest)

    def commit_manifest(self, entries: Mapping[str, str], drop: Iterable[str] = ()) -> None:
        with self._lock:
            for source in drop:
                self._manifest.pop(source, None)
            self._manifest.update(entries)

    def stored_chunks(self) -> Iterable[tuple[str, str, str]]:
        return [(source_of(d), i, content_hash(d.content)) for i, d in list(self.rows.items())]

    def ids_for_sources(self, sources: list[str]) -> list[str]:
        wanted = set(sources)
        return [i for i, d in self.rows.items() if source_of(d) in wanted]

    def dimension(self) -> int | None:
        first = next(iter(self.rows.values()), None)
        return None if first is None else len(first.embedding)

    def upsert(self, documents: list[Document]) -> None:
        with self._lock:
            self.rows.update({d.id: d for d in documents})
            self._version += 1

    def delete_ids(self, ids: list[str]) -> None:
        with self._lock:
            for i in ids:
                self.rows.pop(i, None)
            self._version += 1

    def count(self, where: Mapping[str, Any] | None = None) -> int:
        return sum(1 for d in self.rows.values() if matches(d.meta, where))

    def documents(self, where: Mapping[str, Any] | None = None) -> list[Document]:
        return [d for d in self.rows.values() if matches(d.meta, where)]

    def search(self, vector: Any, top_k: int, where: Mapping[str, Any] | None = None) -> list[Document]:
        import numpy as np

        docs = self.documents(where)
        if not docs:
            return []
        scores = np.stack([d.embedding for d in docs]) @ np.asarray(vector, dtype="float32")
        best = np.argsort(-scores)[:top_k]
        return [dataclasses.replace(docs[i], score=float(scores[i])) for i in best]

    def content_version(self) -> str:
        return f"{id(self)}:{self._version}"
