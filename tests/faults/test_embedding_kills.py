"""kill -9 in the middle of an embedding run (issue 8): the vectors computed before the kill are reused by the
next run, not computed again."""

from __future__ import annotations

from pathlib import Path

from tests.faults.ingest import run_child


def test_vectors_embedded_before_a_kill_are_not_embedded_again(tmp_path: Path) -> None:
    texts = [f"text number {i}" for i in range(40)]  # ten model batches of 4
    calls = tmp_path / "calls"
    spec = {
        "embed_only": True,
        "state_dir": str(tmp_path / "state"),
        "calls_file": str(calls),
        "batch_size": 4,
        "texts": texts,
    }
    run_child({**spec, "stop_after": 6}, tmp_path)
    assert len(calls.read_text().splitlines()) == 7  # the 7th call was under way when killed
    calls.unlink()
    run_child(spec, tmp_path, killed=False)
    assert [int(n) for n in calls.read_text().splitlines()] == [4] * 4  # six batches came from the cache
