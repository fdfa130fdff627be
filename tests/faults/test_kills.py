"""kill -9 in the middle of a sync or an embedding run, then a re-run (issue 8): the store must end up holding
exactly what a clean ingest of the same folder holds, and vectors computed before the kill must not be computed
again. The sync runs in a child process (tests/faults/ingest.py) that signals when it reaches the chosen point."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from components.stores.base import VectorStore, digests_of
from tests.faults.ingest import FILES_DEFAULT, chunks_of, open_store, run_child, write_corpus

FILES = FILES_DEFAULT  # x 5 chunks (the title and four parts) = 300: nine Chroma batches of 37, cutting files in two


def ingest(spec: dict[str, Any]) -> str:
    """A sync of the folder in this process (only the runs to be killed need a child: it saves ~1.5 s each)."""
    store = open_store(spec)
    try:
        return store.sync(chunks_of(Path(spec["folder"]), Path(spec["state_dir"])), prune=True).present()
    finally:
        store.close()


def content(store: VectorStore) -> set[tuple[str, str, str]]:
    """(source, chunk id, text hash) of every stored chunk, read through the public API."""
    return {(d.meta["source"], d.id, hashlib.sha256(d.content.encode()).hexdigest()) for d in store.documents()}


def clean_ingest(spec: dict[str, Any]) -> set[tuple[str, str, str]]:
    """What a clean sync of the folder into a fresh collection stores."""
    clean = {**spec, "collection": f"{spec['collection']}-clean-{time.monotonic_ns()}"}
    ingest(clean)
    store = open_store(clean)
    try:
        return content(store)
    finally:
        store.close()


def check_repaired(spec: dict[str, Any]) -> str:
    """A re-run repairs the store to exactly the clean content, and the run after it changes nothing."""
    report = ingest(spec)
    store = open_store(spec)
    try:
        assert content(store) == clean_ingest(spec)
        assert store.manifest() == digests_of(store.stored_chunks())
    finally:
        store.close()
    again = ingest(spec)
    assert "sources_changed=0" in again and "chunks_written=0" in again, again
    return report


@pytest.fixture
def spec(tmp_path: Path) -> dict[str, Any]:
    return {
        "backend": "chroma",
        "path": str(tmp_path / "chroma"),
        "collection": "docs",
        "folder": str(write_corpus(tmp_path / "corpus", FILES)),
        "state_dir": str(tmp_path / "state"),
    }


@pytest.mark.parametrize("stop", [{"at": "upsert", "n": 1}, {"at": "upsert", "n": 4}])
def test_chroma_first_ingest_killed_between_batches_is_repaired(
    spec: dict[str, Any], tmp_path: Path, stop: dict[str, Any]
) -> None:
    run_child({**spec, "stop": stop}, tmp_path)
    store = open_store(spec)
    partial = store.count()
    store.close()
    assert 0 < partial < FILES * 5  # the kill did leave a half-written store
    report = check_repaired(spec)
    assert "chunks_total=300" in report, report


@pytest.mark.parametrize(
    "stop",
    [
        {"at": "upsert", "n": 1},  # some new chunks written, no old ones deleted
        {"at": "upsert_all", "n": 1},  # all new chunks written, no old ones deleted
        {"at": "delete_all", "n": 1},  # all written and deleted, the manifest not yet committed
    ],
)
def test_chroma_update_killed_anywhere_is_repaired_to_the_folder(
    spec: dict[str, Any], tmp_path: Path, stop: dict[str, Any]
) -> None:
    ingest(spec)
    write_corpus(Path(spec["folder"]), FILES, version=2)
    run_child({**spec, "stop": stop}, tmp_path)
    check_repaired(spec)


def test_chroma_update_killed_then_folder_reverted_is_repaired_to_the_old_version(
    spec: dict[str, Any], tmp_path: Path
) -> None:
    ingest(spec)
    write_corpus(Path(spec["folder"]), FILES, version=2)
    run_child({**spec, "stop": {"at": "upsert_all", "n": 1}}, tmp_path)
    write_corpus(Path(spec["folder"]), FILES, version=1)
    check_repaired(spec)


@pytest.mark.integration
def test_pgvector_kill_mid_transaction_leaves_the_old_state_then_is_repaired(
    spec: dict[str, Any], tmp_path: Path, pg_dsn: str
) -> None:
    spec = {**spec, "backend": "pgvector", "dsn": pg_dsn, "collection": f"k{time.monotonic_ns() % 10**9}"}
    ingest(spec)
    store = open_store(spec)
    before = content(store), store.manifest()
    store.close()
    write_corpus(Path(spec["folder"]), FILES, version=2)
    for stop in ({"at": "upsert_all", "n": 1}, {"at": "delete_all", "n": 1}):
        run_child({**spec, "stop": stop}, tmp_path)
        store = open_store(spec)
        assert (content(store), store.manifest()) == before  # the transaction died with the process
        store.close()
    check_repaired(spec)
