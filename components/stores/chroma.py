"""`store.chroma`: the embedded on-disk default store (Chroma's PersistentClient, HNSW with cosine distance).

Chroma's Haystack integration writes one document per call (~100 docs/s); this adapter writes in batches of the
client's maximum batch size (~1,500 docs/s here). Metadata that Chroma cannot hold as scalars (lists, dicts) is
kept as JSON in `_meta`. A version file beside the data changes on every write, so readers in other processes
know when their caches (BM25) are stale.

Chroma has no transaction across batches, so a kill between them leaves part of a sync written. The manifest
(base.py) lives in a sidecar SQLite file beside the data, `<collection>.manifest.sqlite`, written in one SQLite
transaction after the chunks it vouches for; the next sync sees the mismatch and repairs the source.

Chroma's embedded client loads a collection's HNSW index once and does not follow another process's writes:
measured (issue 8), a long-lived reader failed every query for good once another process had re-ingested
(the index returned ids whose rows were gone). So a search first checks the version file and, if another
process wrote since, reopens the client (so do reads and counts); rows deleted since the index was read are
skipped, not returned.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any

from pydantic import Field

from components.documents import Document
from components.stores.base import HnswSettings, VectorStore, content_hash

if TYPE_CHECKING:
    import sqlite3

    from chromadb.api.collection_configuration import CreateHNSWConfiguration
    from chromadb.api.types import Include

_PAGE = 5000


def _scalar_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)}
    return {**flat, "_meta": json.dumps(meta, default=str)}


def _where(where: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not where:
        return None
    clauses = [{k: {"$in": v} if isinstance(v, list) else {"$eq": v}} for k, v in where.items()]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaSettings(HnswSettings):
    path: str = Field(".dagwright/chroma", description="Folder of the on-disk store, relative to the project.")


class ChromaStore(VectorStore[ChromaSettings]):
    """An on-disk Chroma collection: the embedded default. Another process may query while one writes.

    Example:

    ```yaml
    resources:
      docs: {uses: store.chroma, with: {path: .dagwright/chroma, collection: docs}}
    ```
    """

    name = "store.chroma"

    def backend_errors(self) -> tuple[type[BaseException], ...]:
        import sqlite3

        from chromadb.errors import ChromaError

        return (ChromaError, sqlite3.Error, OSError, RuntimeError, ValueError)

    def open(self) -> None:
        self._reopen_lock = threading.Lock()
        with self.errors("opening"):
            self._open()

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()  # the last client of a path stops its system, so a reopen reads the index afresh

    def _follow_other_writers(self) -> None:
        if self.content_version() == self._seen:
            return
        with self._reopen_lock, self.errors("reopening after another process wrote"):
            if self.content_version() != self._seen:
                self.close()
                self._open()

    def _open(self) -> None:
        import chromadb
        from chromadb.config import Settings

        settings = self.params
        self.path = self.context.path(settings.path)
        # No telemetry: this may run offline, and a store should not phone home anyway.
        self.client = chromadb.PersistentClient(path=str(self.path), settings=Settings(anonymized_telemetry=False))
        hnsw: CreateHNSWConfiguration = {
            "space": "cosine",
            "ef_search": settings.hnsw_ef_search,
            "ef_construction": settings.hnsw_ef_construction,
            "max_neighbors": settings.hnsw_m,
        }
        self.collection = self.client.get_or_create_collection(
            settings.collection, configuration={"hnsw": hnsw}, embedding_function=None
        )
        self.version_file = self.path / f"{settings.collection}.version"
        self._seen = self.content_version()
        self.manifest_file = self.path / f"{settings.collection}.manifest.sqlite"

    @contextmanager
    def _manifest_db(self) -> Iterator[sqlite3.Connection]:
        import sqlite3

        # A connection per use: SQLite connections must stay in their thread, and stages run in threads.
        with closing(sqlite3.connect(self.manifest_file, timeout=30)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS manifest (source TEXT PRIMARY KEY, digest TEXT NOT NULL)")
            yield db

    def _all(self, include: Include, where: Mapping[str, Any] | None = None) -> dict[str, list[Any]]:
        self._follow_other_writers()
        out: dict[str, list[Any]] = {"ids": [], **{k: [] for k in include}}
        offset = 0
        while True:
            # A TypedDict read by keys chosen at run time: those in `include` are never None.
            page: dict[str, Any] = dict(
                self.collection.get(include=include, where=_where(where), limit=_PAGE, offset=offset)
            )
            for key in out:
                out[key] += list(page[key]) if page[key] is not None else []
            if len(page["ids"]) < _PAGE:
                return out
            offset += _PAGE

    def manifest(self) -> dict[str, str]:
        with self._manifest_db() as db:
            return dict(db.execute("SELECT source, digest FROM manifest").fetchall())

    def commit_manifest(self, entries: Mapping[str, str], drop: Iterable[str] = ()) -> None:
        with self._manifest_db() as db, db:  # one transaction: all of it or none of it survives a kill
            db.executemany("DELETE FROM manifest WHERE source = ?", [(s,) for s in drop])
            db.executemany("INSERT OR REPLACE INTO manifest VALUES (?, ?)", list(entries.items()))

    def stored_chunks(self) -> Iterable[tuple[str, str, str]]:
        rows = self._all(["documents", "metadatas"])
        return [
            (str(m.get("source")), i, content_hash(text or ""))
            for i, text, m in zip(rows["ids"], rows["documents"], rows["metadatas"], strict=True)
        ]

    def ids_for_sources(self, sources: list[str]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(sources), 500):
            ids += self._all([], {"source": sources[start : start + 500]})["ids"]
        return ids

    def upsert(self, documents: list[Document]) -> None:
        if not documents:
            return
        step = self.client.get_max_batch_size()
        for start in range(0, len(documents), step):
            part = documents[start : start + step]
            self.collection.upsert(
                ids=[d.id for d in part],
                embeddings=[d.embedding for d in part],
                documents=[d.content for d in part],
                metadatas=[_scalar_meta(d.meta) for d in part],
            )
        self._bump()

    def dimension(self) -> int | None:
        stored = self.collection.peek(1)["embeddings"]
        return len(stored[0]) if stored is not None and len(stored) else None

    def delete_ids(self, ids: list[str]) -> None:
        step = self.client.get_max_batch_size()
        for start in range(0, len(ids), step):
            self.collection.delete(ids=ids[start : start + step])
        if ids:
            self._bump()

    def count(self, where: Mapping[str, Any] | None = None) -> int:
        self._follow_other_writers()
        return self.collection.count() if not where else len(self._all([], where)["ids"])

    def search(self, vector: Any, top_k: int, where: Mapping[str, Any] | None = None) -> list[Document]:
        import numpy as np

        self._follow_other_writers()
        if self.collection.count() == 0:
            return []
        found: dict[str, Any] = dict(  # its fields are Optional, but the ones in `include` are always there
            self.collection.query(
                query_embeddings=[np.asarray(vector, dtype="float32")],
                n_results=top_k,
                where=_where(where),
                include=["documents", "metadatas", "distances", "embeddings"],
            )
        )
        rows = zip(
            found["ids"][0],
            found["documents"][0],
            found["metadatas"][0],
            found["distances"][0],
            found["embeddings"][0],
            strict=True,
        )
        return [
            Document(i, text, json.loads(meta["_meta"]), np.asarray(emb, dtype="float32"), 1.0 - float(dist))
            for i, text, meta, dist, emb in rows
            if meta is not None  # deleted by another process since this index was read
        ]

    def documents(self, where: Mapping[str, Any] | None = None) -> list[Document]:
        import numpy as np

        rows = self._all(["documents", "metadatas", "embeddings"], where)
        return [
            Document(i, text, json.loads(meta["_meta"]), np.asarray(emb, dtype="float32"))
            for i, text, meta, emb in zip(
                rows["ids"], rows["documents"], rows["metadatas"], rows["embeddings"], strict=True
            )
        ]

    def content_version(self) -> str:
        try:
            return self.version_file.read_text()
        except FileNotFoundError:
            return "empty"

    def _bump(self) -> None:
        version = uuid.uuid4().hex
        tmp = self.version_file.with_suffix(".tmp")
        tmp.write_text(version)
        tmp.replace(self.version_file)
        self._seen = version  # our own writes are in our index already
