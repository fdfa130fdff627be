"""The result store: the data-only format round-trips what flows between stages, refuses what it cannot hold,
keeps under its size cap by least-recent use, and `dagwright cache` reports and clears it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from components.documents import Document
from components.generators import Answer, Source
from components.stores.base import IndexReport
from flows.cli import main
from flows.errors import SettingError
from flows.execute.cache import MISS, ResultStore, parse_size
from flows.execute.codec import Unencodable, dumps, loads


def roundtrip(value: object) -> object:
    return loads(dumps(value))


def test_documents_with_embeddings_and_answers_round_trip() -> None:
    doc = Document.from_source("a.md", "text", heading_path=["A", "B"], page=3)
    doc = Document(doc.id, doc.content, doc.meta, np.arange(4, dtype=np.float32), score=0.5)
    (back,) = roundtrip([doc])  # type: ignore[misc]
    assert back == doc and back.score == 0.5
    assert back.embedding.dtype == np.float32 and back.embedding.tolist() == [0.0, 1.0, 2.0, 3.0]
    answer = Answer("q", "a [1]", [Source(1, "a.md", "", ["A"], 0.9, True)], True, "rag-answer@1", "m", {"x": 1})
    assert roundtrip({"answer": answer}) == {"answer": answer}
    report = IndexReport(1, 0, 2, 0, 5, 0, 7)
    assert roundtrip(report) == report


def test_scalars_containers_and_arrays_keep_their_types() -> None:
    value = {1: (True, None, 1.5, float("inf")), "b": b"\x00", ("k", 2): [np.float32(2.5), np.int64(3)]}
    back = roundtrip(value)
    assert back == value and isinstance(back[1], tuple)  # type: ignore[index]
    assert type(back[("k", 2)][0]) is np.float32  # type: ignore[index]
    matrix = np.arange(6, dtype=np.int16).reshape(2, 3)
    assert np.array_equal(roundtrip(matrix), matrix) and roundtrip(matrix).dtype == np.int16  # type: ignore[union-attr]


def test_data_frames_round_trip() -> None:
    frame = pd.DataFrame({"n": [1, 2], "x": [0.5, None], "s": ["a", None], "t": pd.to_datetime(["2026-01-01"] * 2)})
    pd.testing.assert_frame_equal(roundtrip(frame), frame)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [object(), np.array([object()]), {1, 2}, pd.DataFrame({"c": pd.Categorical(["a"])}), Path("x")],
)
def test_what_the_format_cannot_hold_is_not_stored(value: object, tmp_path: Path) -> None:
    with pytest.raises(Unencodable):
        dumps(value)
    store = ResultStore(tmp_path)
    assert store.put("a" * 64, {"output": value}) is False
    assert store.get("a" * 64) is MISS


def test_least_recently_used_entries_are_evicted_over_the_cap(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, max_bytes=10_000)
    keys = [c * 64 for c in "abc"]
    for n, key in enumerate(keys):
        assert store.put(key, "x" * 3000, pipeline="p")
        os.utime(store._path(key), (1000 + n, 1000 + n))  # written in order a, b, c
    assert store.get(keys[0]) == "x" * 3000  # a read makes a the most recently used
    assert store.put("d" * 64, "x" * 3000, pipeline="q")
    assert [store.get(k) is MISS for k in keys] == [False, True, False]
    assert store.info().entries == 3 and store.info().bytes <= 10_000


def test_sizes_read_as_written() -> None:
    assert parse_size("500MB") == 500_000_000 and parse_size("1GiB") == 1 << 30 and parse_size("123") == 123
    with pytest.raises(SettingError, match=r"DAGWRIGHT_CACHE_SIZE='lots': expected a size such as 500MB"):
        parse_size("lots")


def test_an_invalid_size_setting_is_an_error_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGWRIGHT_CACHE_SIZE", "1 zillion")
    (tmp_path / "pipelines.yaml").write_text(PIPELINES)
    assert main(["-f", str(tmp_path / "pipelines.yaml"), "cache", "info"]) == 2
    assert capsys.readouterr().err == (
        "error: DAGWRIGHT_CACHE_SIZE='1 zillion': expected a size such as 500MB, 2GB or 1GiB, or a number of bytes\n"
    )


PIPELINES = """
pipelines:
  one:
    params: {n: 3}
    stages:
      nums: {uses: python.call, with: {function: "tests.helpers.stagefns:numbers"}, inputs: {n: "${params.n}"}}
"""


def test_cli_cache_info_and_clear(tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = ResultStore(isolated_home / "results")
    store.put("a" * 64, [1, 2], pipeline="rag-ingest")
    store.put("b" * 64, [3], pipeline="rag-ingest")
    store.put("c" * 64, "x", pipeline="rag-query")
    (tmp_path / "pipelines.yaml").write_text(PIPELINES)
    file = str(tmp_path / "pipelines.yaml")
    assert main(["-f", file, "cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"{isolated_home / 'results'}: 3 results" in out and "of 1.0 GB" in out
    assert "rag-ingest" in out and "2 results" in out and "rag-query" in out
    assert main(["-f", file, "cache", "clear", "rag-ingets"]) == 2
    assert capsys.readouterr().err == (
        f"error: no pipeline 'rag-ingets' in {file} or the cache (did you mean 'rag-ingest'?); "
        "pipelines are: one, rag-ingest, rag-query\n"
    )
    assert main(["-f", file, "cache", "clear", "rag-ingest"]) == 0
    assert "removed 2 results of rag-ingest" in capsys.readouterr().out
    assert store.info().pipelines.keys() == {"rag-query"}
    assert main(["-f", file, "cache", "clear"]) == 0
    assert "removed 1 result (" in capsys.readouterr().out and store.info().entries == 0
