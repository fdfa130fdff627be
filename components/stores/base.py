"""The store contract and the incremental sync every store component runs.

Sync makes a collection match a folder: chunks of unchanged documents stay, a changed document's chunks are
replaced, a document that is gone loses its chunks. New chunks are written before old ones are deleted, so a
failure half way leaves the previous content findable (pgvector runs it all in one transaction).
"""

from __future__ import annotations

import dataclasses
import threading
from abc import abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pydantic import Field

from components.base import Component, ComponentParams, Presentable
from components.documents import Document


class StoreError(RuntimeError):
    """A store refused an operation or holds data that does not fit (e.g. another embedding dimension)."""


class Backend(Protocol):
    def manifest(self) -> dict[str, str]:
        """source -> id of the document version whose chunks are stored."""
        ...

    def ids_for_sources(self, sources: list[str]) -> list[str]: ...
    def upsert(self, documents: list[Document]) -> None: ...
    def delete_ids(self, ids: list[str]) -> None: ...
    def count(self, where: Mapping[str, Any] | None = None) -> int: ...
    def search(self, vector: Any, top_k: int, where: Mapping[str, Any] | None = None) -> list[Document]:
        """Nearest chunks with ``score`` = cosine similarity, best first."""
        ...

    def documents(self, where: Mapping[str, Any] | None = None) -> list[Document]:
        """Every stored chunk with its embedding (for BM25 and hybrid scoring)."""
        ...

    def version(self) -> str:
        """Changes whenever the content changes (for caches built on top of the store)."""
        ...


class StoreSettings(ComponentParams):
    """Where a collection lives. Subclasses add the backend's own settings and a ``type`` literal."""

    collection: str = Field("dagwright", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{2,62}$")

    @abstractmethod
    def open(self) -> Backend:
        """Connect to (or create) the collection; each backend's settings class implements this."""


@dataclass(frozen=True)
class IndexReport(Presentable):
    """What a sync did, by document source and by chunk."""

    sources_new: int
    sources_changed: int
    sources_unchanged: int
    sources_removed: int
    chunks_written: int
    chunks_deleted: int
    chunks_total: int

    def present(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in dataclasses.fields(self))

    def as_markdown(self) -> str:
        rows = [f"| {f.name} | {getattr(self, f.name)} |" for f in dataclasses.fields(self)]
        return "\n".join(["| | |", "|---|---:|", *rows])


_backends: dict[str, Backend] = {}
_backends_lock = threading.Lock()


def open_backend(settings: StoreSettings) -> Backend:
    """One backend (client, pool) per settings in a process, shared by the index and retriever stages."""
    key = settings.model_dump_json()
    with _backends_lock:
        if key not in _backends:
            _backends[key] = settings.open()
        return _backends[key]


def check_embedded(documents: list[Document], store: str) -> None:
    missing = [d.id for d in documents if d.embedding is None]
    if missing:
        raise StoreError(
            f"{store}: {len(missing)} chunks have no embedding (first: {missing[0]}); put an embedder "
            "stage before the store"
        )


def source_of(doc: Document) -> str:
    return str(doc.meta.get("source", doc.id))


def doc_id_of(doc: Document) -> str:
    # Chunks carry the id of the document they came from; a new id means new content.
    return str(doc.meta.get("doc_id", doc.id))


def manifest_of(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """source -> its document ids, sorted and comma-joined: the one format stored and incoming are compared in
    (pgvector builds the same string in SQL)."""
    found: dict[str, set[str]] = defaultdict(set)
    for source, doc_id in pairs:
        found[source].add(doc_id)
    return {source: ",".join(sorted(ids)) for source, ids in found.items()}


def sync(backend: Backend, documents: list[Document], *, prune: bool) -> IndexReport:
    by_source: dict[str, list[Document]] = defaultdict(list)
    for d in documents:
        by_source[source_of(d)].append(d)
    with getattr(backend, "transaction", nullcontext)():
        return _sync(backend, by_source, prune)


def _sync(backend: Backend, by_source: dict[str, list[Document]], prune: bool) -> IndexReport:
    incoming = manifest_of((source_of(d), doc_id_of(d)) for chunks in by_source.values() for d in chunks)
    stored = backend.manifest()
    unchanged = {s for s, v in incoming.items() if stored.get(s) == v}
    changed = {s for s in incoming if s in stored and s not in unchanged}
    removed = set(stored) - set(incoming) if prune else set()
    stale = backend.ids_for_sources(sorted(changed | removed))
    fresh = [d for s in sorted(set(incoming) - unchanged) for d in by_source[s]]
    backend.upsert(fresh)
    kept = {d.id for d in fresh}
    obsolete = [i for i in stale if i not in kept]
    backend.delete_ids(obsolete)
    return IndexReport(
        sources_new=len(set(incoming) - set(stored)),
        sources_changed=len(changed),
        sources_unchanged=len(unchanged),
        sources_removed=len(removed),
        chunks_written=len(fresh),
        chunks_deleted=len(obsolete),
        chunks_total=backend.count(),
    )


@dataclass(frozen=True)
class Indexed:
    report: IndexReport


class IndexStore(Component):
    """Base of the `store.*` components: sync the incoming embedded chunks into a collection.
    Output port: `report` (an IndexReport)."""

    cacheable = False  # writing is the point
    writes = True
    Params: ClassVar[type[ComponentParams]] = StoreSettings
    # The last gate before anything is written: what reaches the store must be whole.
    default_checks: ClassVar[dict[str, dict[str, list[Any]]]] = {
        "inputs": {"documents": ["unique_ids", "finite_embeddings", {"text_length": {"min": 1}}]}
    }

    def run(self, documents: list[Document]) -> Indexed:
        check_embedded(documents, self.name)
        settings = self.params
        assert isinstance(settings, StoreSettings)
        return Indexed(sync(open_backend(settings), documents, prune=getattr(settings, "prune", True)))


def matches(meta: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    """Equality filters on metadata: every key must equal (or, given a list, be one of) the value."""
    if not where:
        return True
    return all(meta.get(k) in v if isinstance(v, list) else meta.get(k) == v for k, v in where.items())
