"""How runs are shown: console progress for the CLI, Prefect logs for the UI, and the run summary table."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from flows.execute.runtime import Reporter, RunResult, StageResult, describe_error, progress_to

_MARKS = {"completed": "ok", "cached": "cached", "checked": "checked", "failed": "FAILED", "skipped": "skipped"}


def _count(n: int | None) -> str:
    return "-" if n is None else str(n)


def describe(result: StageResult, *, verbose: bool = False) -> str:
    """A stage's line (and its error and gates); ``verbose`` adds a failure's traceback."""
    # Loading Great Expectations is once per process, not the stage's work: its own line, before the stage's.
    if result.status == "skipped":  # it did not run: no time or rows to show, only why
        return f"{result.stage:<16} {_MARKS['skipped']:<8} {result.error or ''}".rstrip()
    loaded = f"(great expectations loaded in {result.load_seconds:.1f} s)\n" if result.load_seconds else ""
    line = f"{loaded}{result.stage:<16} {_MARKS[result.status]:<8} {result.seconds * 1000:>9.1f} ms"
    line += f"   rows {_count(result.rows_in)} -> {_count(result.rows_out)}"
    if result.attempts > 1:
        line += f"   attempts {result.attempts}"
    if result.error:
        line += f"\n{'':<17}{result.error}"
    for report in result.gates:
        line += "".join(f"\n{'':<17}{text}" for text in gate_lines(report))
    if verbose and result.traceback:
        line += "\n" + result.traceback.rstrip()
    return line


def gate_lines(report: Any) -> list[str]:
    """Failed checks in full (what was expected and observed); passed ones as a count per port."""
    lines = []
    for port in dict.fromkeys(f"{r.direction}.{r.port}" for r in report.results):
        results = [r for r in report.results if f"{r.direction}.{r.port}" == port]
        passed = [r for r in results if r.success]
        lines.append(f"checks {port}: {len(passed)}/{len(results)} passed")
        lines += [f"  {r.check} {r.action.upper()}: {r.observed}" for r in results if not r.success]
    lines += [f"quarantined rows of {port} -> {path}" for port, path in report.quarantined.items()]
    return lines


def gate_rows(report: Any) -> list[dict[str, Any]]:
    return [
        {
            "port": f"{r.direction}.{r.port}",
            "check": r.check,
            "success": r.success,
            "observed": r.observed,
            "unexpected": r.unexpected,
            "action": r.action,
        }
        for r in report.results
    ]


def gates_description(pipeline: str, stage: str, reports: list[Any]) -> str:
    """One stage's checks (its input and output gates together) in a few words: what passed, and each check
    that did not with what it observed; for the description of the stage's gate artifact."""
    results = [r for report in reports for r in report.results]
    failed = [r for r in results if not r.success]
    head = f"Checks of stage **{stage}** ({pipeline}): {len(results) - len(failed)} of {len(results)} passed."
    lines = [f"- `{r.direction}.{r.port}` **{r.check}**: {r.action}, {r.observed}" for r in failed]
    lines += [f"- quarantined rows of `{p}`: `{path}`" for report in reports for p, path in report.quarantined.items()]
    return "\n".join([head, *lines])


class ConsoleReporter:
    """One line per stage as it finishes, and the progress of long stages: bars on a TTY, plain lines elsewhere
    (flows.execute.progress). Threads may report together, so writes are serialized."""

    def __init__(self, stream: TextIO | None = None, *, verbose: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self.lock = threading.RLock()  # a progress display may write a line while the lock is held
        self.progress: Any = None  # chosen at the first progress report, so a run without any never loads Rich
        # A timed-out stage's abandoned thread may still report: its bar must not come back after its line.
        self.finished: set[str] = set()

    def _write(self, text: str) -> None:
        with self.lock:
            if self.progress is not None and self.progress.print(text):
                return
            self.stream.write(text + "\n")
            self.stream.flush()

    def stage_progress(self, stage: str, done: int, total: int | None) -> None:
        from flows.execute.progress import display_for

        with self.lock:
            if stage in self.finished:
                return
            if self.progress is None:
                self.progress = display_for(self.stream, self._write)
            self.progress.update(stage, done, total)

    def stage_started(self, stage: str, attempt: int) -> None:
        with self.lock:
            self.finished.discard(stage)

    def stage_retrying(self, stage: str, attempt: int, error: BaseException, delay: float) -> None:
        self._write(f"{stage:<16} retry    attempt {attempt} failed ({describe_error(error)}); retrying in {delay:g}s")

    def stage_finished(self, result: StageResult) -> None:
        with self.lock:
            self.finished.add(result.stage)
            if self.progress is not None:
                self.progress.finish(result.stage)
            self._write(describe(result, verbose=self.verbose))


class TeeReporter:
    def __init__(self, *reporters: Reporter | None) -> None:
        self.reporters = [r for r in reporters if r is not None]

    def stage_started(self, stage: str, attempt: int) -> None:
        for r in self.reporters:
            r.stage_started(stage, attempt)

    def stage_retrying(self, stage: str, attempt: int, error: BaseException, delay: float) -> None:
        for r in self.reporters:
            r.stage_retrying(stage, attempt, error, delay)

    def stage_finished(self, result: StageResult) -> None:
        for r in self.reporters:
            r.stage_finished(result)

    def stage_progress(self, stage: str, done: int, total: int | None) -> None:
        for r in self.reporters:
            progress_to(r, stage)(done, total)  # each guarded: one broken display does not starve the others


def summary_rows(result: RunResult) -> list[dict[str, Any]]:
    return [
        {
            "stage": s.stage,
            "status": s.status,
            "seconds": round(s.seconds, 4),
            "attempts": s.attempts,
            "rows_in": s.rows_in,
            "rows_out": s.rows_out,
            "error": s.error or "",
        }
        for s in result.stages.values()
    ]


def summary_markdown(result: RunResult) -> str:
    counts: dict[str, int] = {}
    for s in result.stages.values():
        counts[s.status] = counts.get(s.status, 0) + 1
    status = "failed" if result.error else "completed"
    parts = ", ".join(f"{n} {k}" for k, n in counts.items())
    text = f"**{result.pipeline}** {status} in {result.seconds:.2f}s: {parts}."
    return text + (f"\n\n{result.error}" if result.error else "")
