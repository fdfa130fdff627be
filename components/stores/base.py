"""The vector store contract, the incremental sync every store runs, and the one `store.write` component.

A store is a resource (components/resources.py): declared once under `resources:`, opened once per process,
shared by the stage that writes it and the retrievers that read it. Each backend implements `VectorStore`: the
reads and writes, a transaction (one where the backend has them), and the dimension check; every failure is a
`StoreError` that says which store and what went wrong.

Sync makes a collection match a folder: chunks of unchanged documents stay, a changed document's chunks are
replaced, a document that is gone loses its chunks. New chunks are written before old ones are deleted, so a
failure half way leaves the previous content findable (pgvector runs it all in one transaction).

What "unchanged" means is checked, not trusted (issue 8): each store keeps a manifest, source -> a digest of the
(chunk id, content hash) pairs that source should have, committed only after its chunks are written. A source is
skipped only when the incoming digest, the committed one and the digest of the chunks as stored all agree; a
write that died half way (kill -9 between Chroma's batches) leaves a source whose stored chunks or manifest
disagree, and the next sync rewrites it. Reading every stored id and text for this is cheap next to embedding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from abc import abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import Field

from components.base import Component, ComponentParams, Presentable
from components.documents import Document
from components.progress import report_progress
from components.resources import Resource, Uses

T = TypeVar("T")


class StoreError(RuntimeError):
    """A store refused an operation or holds data that does not fit (e.g. another embedding dimension)."""


class StoreSettings(ComponentParams):
    """Where a collection lives. Backends add their own settings."""

    collection: str = Field("dagwright", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{2,62}$")


class HnswSettings(StoreSettings):
    """The HNSW index settings, with the same names and defaults on every backend that has one."""

    hnsw_m: int = Field(16, ge=4, le=64, description="HNSW links per node: more = better recall, bigger index.")
    hnsw_ef_construction: int = Field(100, ge=10, le=1000, description="HNSW build breadth.")
    hnsw_ef_search: int = Field(100, ge=10, le=1000, description="HNSW search breadth: higher = better recall.")


SS = TypeVar("SS", bound=StoreSettings)


class VectorStore(Resource[SS]):
    """A collection of embedded chunks: the kind that `store.write` and the retrievers ask for."""

    kind = "vector store"

    def __init__(self, params: SS, context: Any) -> None:
        super().__init__(params, context)
        self._derived: dict[str, tuple[str, Any]] = {}
        self._derived_lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"{self.name} '{self.params.collection}'"

    @abstractmethod
    def manifest(self) -> dict[str, str]:
        """The committed manifest: source -> the digest (`digests_of`) of the chunks it was last written with."""

    @abstractmethod
    def commit_manifest(self, entries: Mapping[str, str], drop: Iterable[str] = ()) -> None:
        """Set the manifest entries of ``entries`` and remove those of ``drop``, atomically and durably against
        a crash of this process (one SQLite or SQL transaction)."""

    @abstractmethod
    def stored_chunks(self) -> Iterable[tuple[str, str, str]]:
        """(source, chunk id, `content_hash` of the text) of every chunk as stored."""

    @abstractmethod
    def ids_for_sources(self, sources: list[str]) -> list[str]: ...

    @abstractmethod
    def upsert(self, documents: list[Document]) -> None: ...

    @abstractmethod
    def delete_ids(self, ids: list[str]) -> None: ...

    @abstractmethod
    def count(self, where: Mapping[str, Any] | None = None) -> int: ...

    @abstractmethod
    def search(self, vector: Any, top_k: int, where: Mapping[str, Any] | None = None) -> list[Document]:
        """Nearest chunks with ``score`` = cosine similarity, best first."""

    @abstractmethod
    def documents(self, where: Mapping[str, Any] | None = None) -> list[Document]:
        """Every stored chunk with its embedding (for BM25 and hybrid scoring)."""

    @abstractmethod
    def content_version(self) -> str:
        """Changes whenever the content changes (for what is derived from the store, such as BM25 indexes)."""

    @abstractmethod
    def dimension(self) -> int | None:
        """The dimension of the stored vectors, or None while the store is empty."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together where the backend can; by default each write stands alone."""
        yield

    def backend_errors(self) -> tuple[type[BaseException], ...]:
        """The exceptions the backend's client raises, which `errors()` turns into StoreErrors."""
        return (OSError,)

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """One clear StoreError naming the store for whatever the backend's client raised while ``doing``. The
        client's own message is cut to its first line (it can run to a page) and its chain is dropped, as
        drivers quote connection strings in their errors."""
        try:
            yield
        except StoreError:
            raise
        except self.backend_errors() as exc:
            raise StoreError(f"{self.label}: {doing} failed: {self.describe(exc)}") from None

    def describe(self, exc: BaseException) -> str:
        """The exception's type and the first line of its message."""
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"{type(exc).__name__}: {first}"

    def check_dimension(self, dims: int) -> None:
        stored = self.dimension()
        if stored is not None and stored != dims:
            raise StoreError(
                f"{self.label} holds {stored}-dim vectors, got {dims}: the embedding model changed; "
                "use another collection or re-create this one"
            )

    def sync(self, documents: list[Document], *, prune: bool = True) -> IndexReport:
        """Make the collection match ``documents`` (see the module docstring); one transaction where the backend
        has them."""
        return sync(self, documents, prune=prune)

    def derived(self, key: str, build: Callable[[], T]) -> T:
        """A value computed from the store's content (e.g. a BM25 index), rebuilt when the content changes, in
        this process or another."""
        version = self.content_version()
        with self._derived_lock:
            cached = self._derived.get(key)
            if cached is None or cached[0] != version:
                cached = (version, build())
                self._derived[key] = cached
            return cached[1]


StoreRef = Annotated[str, Uses(VectorStore)]


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

    def as_table(self) -> list[dict[str, Any]]:
        """One row per count: seven short rows read better in the UI than one row seven columns wide."""
        return [{"count": f.name, "value": getattr(self, f.name)} for f in dataclasses.fields(self)]


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


def content_hash(text: str) -> str:
    # NULs are dropped first: PostgreSQL text cannot hold them, so pgvector stores the text without them.
    return hashlib.sha256(text.replace("\x00", "").encode()).hexdigest()


def digests_of(chunks: Iterable[tuple[str, str, str]]) -> dict[str, str]:
    """source -> one digest of its sorted (chunk id, content hash) pairs: the one format in which the incoming
    chunks, the committed manifest and the chunks as stored are compared."""
    found: dict[str, list[str]] = defaultdict(list)
    for source, chunk_id, text_hash in chunks:
        found[source].append(f"{chunk_id}\x1f{text_hash}")
    return {s: hashlib.sha256("\x1e".join(sorted(pairs)).encode()).hexdigest() for s, pairs in found.items()}


def sync(store: VectorStore, documents: list[Document], *, prune: bool) -> IndexReport:
    check_embedded(documents, store.label)
    by_source: dict[str, list[Document]] = defaultdict(list)
    for d in documents:
        by_source[source_of(d)].append(d)
    dims = sorted({len(d.embedding) for d in documents}, reverse=True)
    if len(dims) > 1:
        shown = " and ".join(map(str, dims))
        raise StoreError(
            f"{store.label}: incoming chunks have vectors of {shown} dimensions; embed them with one model"
        )
    with store.errors("sync"), store.transaction():
        if dims:
            store.check_dimension(dims[0])
        return _sync(store, by_source, prune)


def _sync(store: VectorStore, by_source: dict[str, list[Document]], prune: bool) -> IndexReport:
    incoming = digests_of((s, d.id, content_hash(d.content)) for s, chunks in by_source.items() for d in chunks)
    committed = store.manifest()
    held = digests_of(store.stored_chunks())
    # Unchanged only if all three agree: a source without a manifest, or whose chunks do not match it, is repaired.
    unchanged = {s for s, v in incoming.items() if committed.get(s) == v == held.get(s)}
    present = set(committed) | set(held)
    changed = {s for s in incoming if s in present and s not in unchanged}
    removed = present - set(incoming) if prune else set()
    touched = sorted(changed | removed)
    # The manifest never vouches for a source while its chunks are being rewritten.
    store.commit_manifest({}, drop=touched)
    stale = store.ids_for_sources(touched)
    fresh = [d for s in sorted(set(incoming) - unchanged) for d in by_source[s]]
    write_in_batches(store, fresh)
    kept = {d.id for d in fresh}
    obsolete = [i for i in stale if i not in kept]
    store.delete_ids(obsolete)
    store.commit_manifest({s: incoming[s] for s in sorted(set(incoming) - unchanged)})
    return IndexReport(
        sources_new=len(set(incoming) - present),
        sources_changed=len(changed),
        sources_unchanged=len(unchanged),
        sources_removed=len(removed),
        chunks_written=len(fresh),
        chunks_deleted=len(obsolete),
        chunks_total=store.count(),
    )


# Chunks per `upsert` call: a progress report after each. Large enough that per-call overhead stays small next to
# the rows (a pgvector round trip, a Chroma batch), small enough that a 1,607-chunk ingest moves the bar 4 times.
WRITE_BATCH = 512


def write_in_batches(store: VectorStore, documents: list[Document]) -> None:
    """Upsert ``documents`` a batch at a time, reporting chunks written of all after each batch."""
    report_progress(0, len(documents))
    for start in range(0, len(documents), WRITE_BATCH):
        part = documents[start : start + WRITE_BATCH]
        store.upsert(part)
        report_progress(start + len(part), len(documents))


@dataclass(frozen=True)
class Indexed:
    report: IndexReport


class WriteParams(ComponentParams):
    store: StoreRef = Field(description="The vector store resource to sync into (declared under `resources:`).")
    prune: bool = Field(True, description="Delete chunks of sources that are no longer in the input.")


class WriteStore(Component[WriteParams]):
    """Syncs embedded chunks into a vector store resource: unchanged sources are skipped, changed ones replaced,
    missing ones removed (`prune`). Re-running never duplicates. Output port: `report` (an IndexReport).

    Example:

    ```yaml
    uses: store.write
    with: {store: docs}
    inputs: {documents: embed.output}
    ```
    """

    name = "store.write"
    cacheable = False  # writing is the point
    writes = True
    # The last gate before anything is written: what reaches the store must be whole.
    default_checks = {"inputs": {"documents": ["unique_ids", "finite_embeddings", {"text_length": {"min": 1}}]}}

    def run(self, documents: list[Document]) -> Indexed:
        store = self.resources.get(self.params.store, VectorStore)
        return Indexed(store.sync(documents, prune=self.params.prune))


def matches(meta: Mapping[str, Any], where: Mapping[str, Any] | None) -> bool:
    """Equality filters on metadata: every key must equal (or, given a list, be one of) the value."""
    if not where:
        return True
    return all(meta.get(k) in v if isinstance(v, list) else meta.get(k) == v for k, v in where.items())
