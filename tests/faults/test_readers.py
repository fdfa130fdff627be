"""A long-lived reader while another process re-ingests (issue 8): Chroma's embedded client keeps the index it
loaded, so without care every query of the reader failed for good after the other process's write."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.faults.ingest import FILES_DEFAULT, chunks_of, open_store, run_child, write_corpus


def ingested(tmp_path: Path) -> tuple[Path, dict]:
    """A corpus, and the spec of a Chroma store another process has ingested it into."""
    folder = write_corpus(tmp_path / "corpus", FILES_DEFAULT)
    spec = {"backend": "chroma", "path": str(tmp_path / "chroma"), "collection": "docs", "folder": str(folder)}
    spec["state_dir"] = str(tmp_path / "state")
    run_child(spec, tmp_path, killed=False)
    return folder, spec


def test_a_chroma_reader_open_across_another_process_ingest_sees_the_new_content(tmp_path: Path) -> None:
    folder, spec = ingested(tmp_path)
    reader = open_store(spec)
    try:
        assert len(reader.search(np.ones(32, dtype="float32"), 5)) == 5  # the index is loaded now
        write_corpus(folder, FILES_DEFAULT, version=2)
        run_child(spec, tmp_path, killed=False)  # edits a third of the files, deletes a tenth
        now = {c.id: c for c in chunks_of(folder, tmp_path / "state")}
        edited = next(c for c in now.values() if "edited" in c.content)
        found = reader.search(edited.embedding, 10)
        assert found[0].id == edited.id
        assert all(d.id in now and d.content == now[d.id].content for d in found)
    finally:
        reader.close()


def test_a_chroma_reader_reads_and_counts_what_another_process_wrote(tmp_path: Path) -> None:
    folder, spec = ingested(tmp_path)
    reader = open_store(spec)
    try:
        assert reader.documents()  # what BM25 is built from
        write_corpus(folder, FILES_DEFAULT, version=2)
        run_child(spec, tmp_path, killed=False)
        now = {c.id for c in chunks_of(folder, tmp_path / "state")}
        assert reader.count() == len(now)
        assert {d.id for d in reader.documents()} == now
    finally:
        reader.close()
