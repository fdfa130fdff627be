"""Issue 8: a result that cannot be written to the cache (a read-only or full results folder) is a warning, and
the stage's result stands."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from components.resources import opened
from flows.execute.session import close_session
from tests.faults.ingest import HashEmbedding
from tests.faults.project import make_project, run
from tests.helpers.disks import tmpfs


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    yield make_project(tmp_path / "project")
    close_session()


def test_an_unwritable_results_folder_is_a_warning(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Tests run as root, where a read-only mode stops nothing: a state folder that is a file cannot hold results.
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    monkeypatch.setenv("DAGWRIGHT_HOME", str(home))
    with caplog.at_level(logging.WARNING, logger="dagwright.cache"):
        result = run(project, "shout")
    assert result.stages["shout"].status == "completed" and result.output("shout") == "HELLO"
    assert "could not cache the result of stage shout" in caplog.text
    assert run(project, "shout").stages["shout"].status == "completed"


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "tmpfs", "64k") as folder:
        yield folder


def test_a_full_disk_is_a_warning(
    project: Path, tiny_tmpfs: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DAGWRIGHT_HOME", str(tiny_tmpfs))
    big = "x" * 200_000  # more than the 64 KB the disk holds
    with caplog.at_level(logging.WARNING, logger="dagwright.cache"):
        result = run(project, "shout", text=big)
    assert result.stages["shout"].status == "completed" and result.output("shout") == big.upper()
    assert "No space left on device" in caplog.text
    assert not [p for p in tiny_tmpfs.rglob("*") if p.is_file()]  # no half-written entry is left behind


def test_an_embedding_cache_on_a_full_disk_is_a_warning_and_keeps_the_vectors(
    tiny_tmpfs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    texts = [f"passage {i} " * 8 for i in range(3000)]  # ~600 KB of cache rows: ten times the disk
    model = opened(HashEmbedding, root=tiny_tmpfs, state_dir=tiny_tmpfs, batch_size=100)
    with caplog.at_level(logging.WARNING, logger="dagwright.embeddings"):
        vectors = model.vectors(texts)
    uncached = opened(HashEmbedding, root=tiny_tmpfs, state_dir=tiny_tmpfs, cache=False).vectors(texts)
    assert np.array_equal(vectors, uncached)
    assert "No space left on device" in caplog.text or "database or disk is full" in caplog.text
    assert caplog.text.count("embedding cache") == 1  # one warning, not one a batch


def test_an_unreadable_embedding_cache_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "embeddings.sqlite").write_text("not a database")
    model = opened(HashEmbedding, root=tmp_path, state_dir=state)
    with caplog.at_level(logging.WARNING, logger="dagwright.embeddings"):
        assert len(model.vectors(["a", "b"])) == 2
    assert "embeddings.sqlite" in caplog.text
