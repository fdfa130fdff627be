"""The default store (pgvector on its embedded PostgreSQL, issue 8) against the faults Chroma failed: a kill -9 in
the middle of a sync, a reader during another process's write, a server that crashed, a full disk and a read-only
one. Each case runs the real server in a folder of its own; a tmpfs stands in for the small disk."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.stores.base import StoreError
from components.stores.pgserver import EmbeddedPostgres
from tests.faults.ingest import FILES_DEFAULT, open_store, start_child, write_corpus
from tests.faults.test_kills import check_repaired, content, ingest
from tests.helpers.disks import tmpfs

pytestmark = pytest.mark.integration


def embedded_spec(store: Path, tmp_path: Path) -> dict[str, Any]:
    return {
        "backend": "embedded",
        "path": str(store),
        "collection": "docs",
        "folder": str(write_corpus(tmp_path / "corpus", FILES_DEFAULT)),
        "state_dir": str(tmp_path / "state"),
    }


def server_pid(store: Path) -> int | None:
    """The postmaster's pid while the store's server runs."""
    pid_file = store / "data" / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def snapshot(spec: dict[str, Any]) -> Any:
    store = open_store(spec)
    try:
        return content(store), store.manifest()
    finally:
        store.close()


def start_writer(spec: dict[str, Any], tmp_path: Path, stop: dict[str, Any]) -> tuple[subprocess.Popen, Path]:
    """A child syncing the folder that pauses at ``stop`` (inside the transaction) until the test touches the
    returned file."""
    resume = tmp_path / f"resume-{time.monotonic_ns()}"
    return start_child({**spec, "stop": stop}, tmp_path, resume=resume), resume


def test_a_kill_mid_sync_leaves_the_old_version_and_the_last_user_still_stops_the_server(tmp_path: Path) -> None:
    spec = embedded_spec(tmp_path / "store", tmp_path)
    ingest(spec)
    before = snapshot(spec)
    write_corpus(Path(spec["folder"]), FILES_DEFAULT, version=2)
    for stop in ({"at": "upsert_all", "n": 1}, {"at": "delete_all", "n": 1}, {"at": "commit_manifest", "n": 1}):
        child, _ = start_writer(spec, tmp_path, stop)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
        assert snapshot(spec) == before  # the transaction died with the process
    check_repaired(spec)
    assert server_pid(tmp_path / "store") is None  # the killed users did not keep the server up


def test_a_reader_sees_the_old_version_during_a_write_and_the_new_one_after(tmp_path: Path) -> None:
    spec = embedded_spec(tmp_path / "store", tmp_path)
    ingest(spec)
    old = snapshot(spec)
    write_corpus(Path(spec["folder"]), FILES_DEFAULT, version=2)
    reader = open_store(spec)
    try:
        # Paused after the deletes: the new chunks are written and the old ones gone, in the open transaction.
        child, resume = start_writer(spec, tmp_path, {"at": "delete_all", "n": 1})
        assert (content(reader), reader.manifest()) == old  # no mix while the write is under way
        resume.touch()
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        new = content(reader)
        assert new != old[0] and new == snapshot(spec)[0]
    finally:
        reader.close()


def test_a_long_lived_reader_survives_a_crash_of_the_server(tmp_path: Path) -> None:
    spec = embedded_spec(tmp_path / "store", tmp_path)
    ingest(spec)
    reader = open_store(spec)
    try:
        expected = content(reader)
        pid = server_pid(tmp_path / "store")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # what a PANIC on a full disk or an OOM kill does to the server
        deadline = time.monotonic() + 10
        while server_pid(tmp_path / "store") == pid and time.monotonic() < deadline:
            time.sleep(0.05)
        assert content(reader) == expected  # reconnected, the server started again
    finally:
        reader.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 80 MB tmpfs: room for the server (~40 MB) and a small corpus."""
    with tmpfs(tmp_path / "disk", "80m") as folder:
        try:
            yield folder
        finally:
            pid = server_pid(folder / "store")
            if pid is not None:
                os.kill(pid, signal.SIGKILL)


def fill(disk: Path, leave: int) -> Path:
    """A file that takes all but ``leave`` bytes of the disk."""
    ballast = disk / "ballast"
    free = os.statvfs(disk)
    with ballast.open("wb") as handle:
        handle.write(b"\0" * max(0, free.f_bavail * free.f_frsize - leave))
    return ballast


def assert_names(error: BaseException, folder: Path, cause: str) -> None:
    """One error that says where (the store's folder) and why (the system's words)."""
    assert str(folder) in str(error) and cause in str(error), str(error)


def test_a_full_disk_fails_the_sync_clearly_and_the_store_opens_once_space_is_back(
    small_disk: Path, tmp_path: Path
) -> None:
    spec = embedded_spec(small_disk / "store", tmp_path)
    ingest(spec)
    before = snapshot(spec)
    write_corpus(Path(spec["folder"]), 400, version=2)  # ~2,000 chunks: more than the space left
    ballast = fill(small_disk, 16 * 1024)
    with pytest.raises(StoreError) as failed:
        ingest(spec)
    assert_names(failed.value, small_disk / "store", "No space left on device")
    ballast.unlink()
    assert snapshot(spec) == before  # the failed sync left the store as it was
    check_repaired(spec)


def test_a_store_that_cannot_be_created_on_a_full_disk_says_so_then_works(small_disk: Path, tmp_path: Path) -> None:
    spec = embedded_spec(small_disk / "store", tmp_path)
    ballast = fill(small_disk, 1024 * 1024)  # too little for initdb
    with pytest.raises(StoreError) as failed:
        open_store(spec)
    assert_names(failed.value, small_disk / "store", "No space left on device")
    assert not (small_disk / "store" / "data").exists()  # no half-initialised data folder is left to trip on
    ballast.unlink()
    check_repaired(spec)


def test_a_read_only_disk_names_the_folder_and_the_cause_then_works_when_writable(
    small_disk: Path, tmp_path: Path
) -> None:
    spec = embedded_spec(small_disk / "store", tmp_path)
    ingest(spec)
    before = snapshot(spec)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        with pytest.raises(StoreError) as failed:
            open_store(spec)
        assert_names(failed.value, small_disk / "store", "Read-only file system")
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert snapshot(spec) == before


def test_servers_are_shared_by_processes_and_stopped_by_the_last(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    first, second = EmbeddedPostgres(folder), EmbeddedPostgres(folder)
    dsn = first.join()
    pid = server_pid(folder)
    assert second.join() == dsn and server_pid(folder) == pid  # joined, not started twice
    first.leave()
    assert server_pid(folder) == pid  # still used by the second
    second.leave()
    assert server_pid(folder) is None
