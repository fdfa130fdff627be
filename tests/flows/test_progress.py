"""Progress of long stages: components report through the runtime, the terminal shows bars or lines."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

import components.stores.base as stores_base
import flows.execute.progress as progress
from components.documents import Document
from components.embedders import OnnxEmbedding
from components.progress import listening, report_progress
from components.stores.memory import MemoryStore
from flows.cli.main import main
from flows.execute.local import run_local
from flows.execute.progress import ProgressBars, ProgressLines, Rate, duration
from flows.execute.report import ConsoleReporter
from tests.helpers.resources import open_resource

FN = "tests.helpers.progressfns"

COUNTING = f"""
pipelines:
  p:
    params: {{n: {{type: integer, default: 100}}}}
    stages:
      count:
        uses: python.call
        with: {{function: "{FN}:counted"}}
        inputs: {{n: "${{params.n}}"}}
"""


def recorded() -> tuple[list[tuple[int, int | None]], object]:
    reports: list[tuple[int, int | None]] = []
    return reports, lambda done, total: reports.append((done, total))


def test_outside_a_pipeline_nobody_listens_and_nothing_fails() -> None:
    report_progress(1, 2)  # a component run by hand: no listener, no error


def test_a_stages_reports_reach_its_reporter_under_the_in_process_executor(plan_of) -> None:
    class Recorder(ConsoleReporter):
        def __init__(self) -> None:
            super().__init__(io.StringIO())
            self.seen: list[tuple[str, int, int | None]] = []

        def stage_progress(self, stage: str, done: int, total: int | None) -> None:
            self.seen.append((stage, done, total))

    reporter = Recorder()
    run_local(plan_of(COUNTING), {"n": 30}, reporter=reporter, use_cache=False).raise_for_status()
    assert reporter.seen == [("count", 10, 30), ("count", 20, 30), ("count", 30, 30)]


def test_a_broken_display_never_fails_the_stage(plan_of) -> None:
    class Broken(ConsoleReporter):
        def stage_progress(self, stage: str, done: int, total: int | None) -> None:
            raise RuntimeError("the terminal went away")

    result = run_local(plan_of(COUNTING), reporter=Broken(io.StringIO()), use_cache=False)
    assert result.ok and result.output("count") == 100


def test_the_onnx_embedder_reports_texts_done_after_each_batch() -> None:
    model = open_resource(OnnxEmbedding, batch_size=2)
    model.vectors(["already embedded"])
    reports, listener = recorded()
    texts = ["already embedded", "one", "two", "three", "four", "one"]  # "one" twice: embedded once, done twice
    with listening(listener):
        vectors = model.vectors(texts)
    assert vectors.shape == (6, 384)
    assert reports[0] == (1, 6)  # the cached text is done before any batch
    assert [total for _, total in reports] == [6] * len(reports)
    assert reports[-1] == (6, 6) and len(reports) == 3  # 4 new texts in batches of 2
    assert [d for d, _ in reports] == sorted(d for d, _ in reports)


def test_the_store_write_reports_chunks_written_after_each_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stores_base, "WRITE_BATCH", 4)
    store = open_resource(MemoryStore)
    chunks = [Document(f"c{i}", f"text {i}", {"source": f"s{i // 3}"}, embedding=np.ones(3)) for i in range(10)]
    reports, listener = recorded()
    with listening(listener):
        report = store.sync(chunks)
    assert report.chunks_written == 10
    assert reports == [(0, 10), (4, 10), (8, 10), (10, 10)]


def test_plain_lines_show_count_percent_and_eta_once_per_tenth() -> None:
    lines: list[str] = []
    display = ProgressLines(lines.append, delay=0)
    for done in range(0, 101):
        display.update("embed", done, 100)
    assert len(lines) == 11  # the start, then each tenth
    assert lines[0].startswith("embed            progress 0/100 (0%)")
    assert re.match(r"embed +progress 50/100 \(50%\)  elapsed \d+s  ETA \d+s$", lines[5])


def test_a_stage_over_before_the_delay_shows_no_progress() -> None:
    lines: list[str] = []
    display = ProgressLines(lines.append, delay=60)
    for done in range(0, 101):
        display.update("embed", done, 100)
    assert lines == []


def test_eta_is_the_rest_at_the_rate_seen_since_the_first_report() -> None:
    rate = Rate(first_done=100, started=0.0)
    assert rate.eta(300, 1100, now=10.0) == pytest.approx(40.0)  # 200 in 10 s, 800 left
    assert rate.eta(100, 1100, now=10.0) is None and rate.eta(300, None, now=10.0) is None
    assert (duration(42), duration(125), duration(3780)) == ("42s", "2m05s", "1h03m")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_tty_gets_a_rich_bar_with_count_and_eta_and_stage_lines_above_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "DELAY", 0.0)
    stream = Terminal()
    reporter = ConsoleReporter(stream)
    reporter.stage_progress("embed", 0, 1607)
    reporter.stage_progress("embed", 800, 1607)
    assert isinstance(reporter.progress, ProgressBars)
    reporter._write("load             ok")  # a stage that finished meanwhile
    reporter.progress.progress.refresh()
    shown = stream.getvalue()
    assert "800/1607" in shown and "ETA" in shown and "load             ok" in shown
    reporter.progress.finish("embed")
    assert not reporter.progress.progress.live.is_started  # no bar left, so the live display stops


def test_run_local_prints_progress_lines_when_not_a_tty(
    write_pipelines, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "DELAY", 0.0)  # the stage is over in a blink
    path: Path = write_pipelines(COUNTING)
    assert main(["-f", str(path), "run", "p", "--local", "-p", "n=1000", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "count            progress 10/1000 (1%)" in out
    assert "count            progress 500/1000 (50%)" in out
    assert out.index("progress 1000/1000 (100%)") < out.index("count            ok")


def test_reports_after_a_stages_line_are_dropped_until_it_starts_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.execute.runtime import StageResult

    monkeypatch.setattr(progress, "DELAY", 0.0)
    stream = io.StringIO()
    reporter = ConsoleReporter(stream)
    reporter.stage_started("embed", 1)
    reporter.stage_finished(StageResult("embed", "failed", error="StageTimeout: timed out"))
    reporter.stage_progress("embed", 5, 10)  # its abandoned thread, still working
    assert "progress" not in stream.getvalue()
    reporter.stage_started("embed", 2)  # a retry
    reporter.stage_progress("embed", 5, 10)
    assert "embed            progress 5/10 (50%)" in stream.getvalue()
