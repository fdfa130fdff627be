"""Every store for real (memory, Chroma on disk, pgvector on a real PostgreSQL): incremental sync, search,
filters, counts, and what a failure leaves behind."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from components.chunkers import SectionChunker
from components.documents import Document
from components.embedders import OnnxEmbedding
from components.loaders import FileLoader
from components.stores.base import StoreError, VectorStore, sync
from components.stores.chroma import ChromaStore
from components.stores.memory import MemoryStore
from components.stores.pgvector import PgvectorStore
from tests.conftest import REPO
from tests.helpers.files import write_tree
from tests.helpers.resources import open_resource


@pytest.fixture(params=["memory", "chroma", pytest.param("pgvector", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    name = f"t{abs(hash(request.node.name)) % 10**8}"
    if request.param == "memory":
        opened: VectorStore = open_resource(MemoryStore, collection=name)
    elif request.param == "chroma":
        opened = open_resource(ChromaStore, path=str(tmp_path / "chroma"), collection=name)
    else:
        opened = open_resource(PgvectorStore, dsn=request.getfixturevalue("pg_dsn"), collection=name)
    yield opened
    opened.close()


def chunks_of(folder: Path) -> list[Document]:
    docs = FileLoader(FileLoader.Params(path=str(folder), allowed_roots=[str(folder)])).run()
    chunks = SectionChunker(SectionChunker.Params(chunk_size=64, overlap=8)).run(docs)
    vectors = open_resource(OnnxEmbedding).vectors([c.content for c in chunks])
    return [dataclasses.replace(c, embedding=v) for c, v in zip(chunks, vectors, strict=True)]


def stored(store) -> set[tuple[str, str]]:
    return {(d.meta["source"], d.id) for d in store.documents()}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "corpus",
        {
            "cats.md": "# Cats\n\nCats purr and sleep most of the day.\n\n## Food\n\nThey eat fish.\n",
            "dogs.md": "# Dogs\n\nDogs bark at the mail carrier.\n",
            "birds.txt": "Birds migrate south in winter.\n",
        },
    )


def test_ingesting_twice_writes_nothing_the_second_time(store: VectorStore, folder: Path) -> None:
    chunks = chunks_of(folder)
    first = sync(store, chunks, prune=True)
    second = sync(store, chunks_of(folder), prune=True)
    assert (first.sources_new, first.chunks_written, first.chunks_total) == (3, len(chunks), len(chunks))
    assert (second.sources_unchanged, second.chunks_written, second.chunks_deleted) == (3, 0, 0)
    assert second.chunks_total == len(chunks)
    assert stored(store) == {(c.meta["source"], c.id) for c in chunks}


def test_changed_deleted_and_new_files_leave_the_store_matching_the_folder(store: VectorStore, folder: Path) -> None:
    sync(store, chunks_of(folder), prune=True)
    (folder / "cats.md").write_text("# Cats\n\nCats now hunt mice at night.\n")
    (folder / "dogs.md").unlink()
    (folder / "fish.md").write_text("# Fish\n\nFish swim in schools.\n")
    current = chunks_of(folder)
    report = sync(store, current, prune=True)
    assert (report.sources_new, report.sources_changed, report.sources_unchanged, report.sources_removed) == (
        1,
        1,
        1,
        1,
    )
    assert stored(store) == {(c.meta["source"], c.id) for c in current}
    assert report.chunks_total == len(current)


def test_search_scores_filters_and_counts(store: VectorStore, folder: Path) -> None:
    backend = store
    sync(backend, chunks_of(folder), prune=True)
    query = open_resource(OnnxEmbedding).vectors(["Which animal barks?"])[0]
    hits = backend.search(query, 2)
    assert hits[0].meta["source"] == "dogs.md"
    assert hits[0].score is not None and 0.3 < hits[0].score <= 1.0 and hits[0].score >= hits[1].score
    assert np.isclose(hits[0].score, float(hits[0].embedding @ query), atol=1e-3)
    only_cats = backend.search(query, 5, {"source": "cats.md"})
    assert only_cats and {h.meta["source"] for h in only_cats} == {"cats.md"}
    assert backend.count({"source": ["cats.md", "birds.txt"]}) == backend.count() - backend.count({"source": "dogs.md"})
    assert backend.search(query, 3, {"source": "nothing.md"}) == []


def test_a_different_embedding_dimension_is_refused(store: VectorStore, folder: Path) -> None:
    backend = store
    sync(backend, chunks_of(folder), prune=True)
    odd = Document("x", "text", {"source": "odd.md", "doc_id": "x"}, np.ones(8, dtype="float32") / np.sqrt(8))
    with pytest.raises(StoreError, match=r"'t\d+': incoming chunks have vectors of 384 and 8 dimensions"):
        sync(backend, [*chunks_of(folder), odd], prune=True)
    with pytest.raises(StoreError, match=r"'t\d+' holds 384-dim vectors, got 8: the embedding model changed"):
        sync(backend, [odd], prune=True)
    assert backend.count() == len(chunks_of(folder))  # neither wrote anything


@pytest.mark.integration
def test_pgvector_failed_sync_leaves_the_table_as_it_was(pg_dsn: str, folder: Path) -> None:
    backend = open_resource(PgvectorStore, dsn=pg_dsn, collection="rollback")
    sync(backend, chunks_of(folder), prune=True)
    before = stored(backend)
    (folder / "dogs.md").unlink()
    nan = np.full(384, np.nan, dtype="float32")  # PostgreSQL refuses it half way through the write
    broken = [*chunks_of(folder), Document("y", "t", {"source": "new.md", "doc_id": "y"}, nan)]
    with pytest.raises(StoreError, match=r"store.pgvector 'rollback': sync failed: DataException: NaN not allowed"):
        sync(backend, broken, prune=True)
    assert stored(backend) == before  # nothing deleted, nothing half-written


@pytest.mark.integration
def test_pgvector_uses_its_hnsw_index(pg_dsn: str, folder: Path) -> None:
    backend = open_resource(PgvectorStore, dsn=pg_dsn, collection="indexed")
    sync(backend, chunks_of(folder), prune=True)
    names = {
        r[0] for r in backend.conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (backend.table,))
    }
    assert {"dagwright_indexed_hnsw_idx", "dagwright_indexed_source_idx"} <= names


READER = """
import sys, time
from pathlib import Path
from components.resources import ResourceContext
from components.stores.chroma import ChromaStore

backend = ChromaStore(ChromaStore.Params(path=sys.argv[1], collection="shared"), ResourceContext(Path(), Path()))
backend.open()
print("ready", flush=True)
seen = []
deadline = time.time() + 60
while time.time() < deadline:
    seen.append(backend.count())
    if seen[-1] >= int(sys.argv[2]):
        break
    time.sleep(0.05)
print(min(seen), max(seen), len(set(seen)))
"""


def test_chroma_store_is_readable_by_a_second_process_while_another_writes(tmp_path: Path) -> None:
    path, total, batch = str(tmp_path / "chroma"), 600, 50
    reader = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(READER), path, str(total)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    backend = open_resource(ChromaStore, path=path, collection="shared")
    assert reader.stdout is not None and reader.stdout.readline().strip() == "ready"
    rng = np.random.default_rng(0)
    for start in range(0, total, batch):
        time.sleep(0.1)  # give the reader time to look between writes
        vectors = rng.normal(size=(batch, 384)).astype("float32")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        backend.upsert(
            [
                Document(f"id{start + i}", f"text {start + i}", {"source": f"s{start + i}", "doc_id": "d"}, v)
                for i, v in enumerate(vectors)
            ]
        )
    out = reader.stdout.read()
    reader.wait(90)
    low, high, distinct = map(int, out.split())
    assert low < high
    assert high == total  # the reader saw every write
    assert distinct >= 2  # and saw them arrive, not only the end state


def test_nul_characters_in_real_text_do_not_break_a_store(store: VectorStore) -> None:
    doc = Document(
        "nul",
        "before\x00after",
        {"source": "nul.txt", "doc_id": "nul", "note": "a\x00b"},
        np.ones(384, dtype="float32") / np.sqrt(384),
    )
    sync(store, [doc], prune=True)
    [stored_doc] = store.documents()
    assert stored_doc.content.replace("\x00", "") == "beforeafter"
