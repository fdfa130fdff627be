"""Stage progress in the Prefect UI: a progress artifact on the stage's task run, updated as the stage runs.

The same reports the terminal shows as a bar (components.progress -> the run's reporters). Each update is an API
call, so updates are throttled to one per ``MIN_INTERVAL`` seconds, plus the last one (the work done): a
1,607-chunk embed reporting per batch of 32 would otherwise make ~50 calls in the stage's thread. A stage that is
over within ``flows.execute.progress.DELAY`` of its first report gets no artifact: it would only add noise.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from flows.execute.progress import Rate, duration, shown_yet
from flows.execute.runtime import StageResult

MIN_INTERVAL = 0.5


@dataclass
class _Shown:
    artifact: Any  # the artifact's id
    rate: Rate
    at: float


class ProgressArtifacts:
    """A reporter that mirrors each stage's progress reports as a Prefect progress artifact (0-100%)."""

    def __init__(self, delay: float | None = None) -> None:
        self.shown: dict[str, _Shown] = {}
        self.started: dict[str, Rate] = {}  # stages reporting, not shown yet (see flows.execute.progress.DELAY)
        self.finished: set[str] = set()  # a timed-out stage's thread may report on: no artifact after its end
        self.delay = delay
        self.lock = threading.Lock()

    def stage_started(self, stage: str, attempt: int) -> None:
        with self.lock:  # a retry gets a fresh artifact, as its count starts again
            self.shown.pop(stage, None)
            self.started.pop(stage, None)
            self.finished.discard(stage)

    def stage_retrying(self, stage: str, attempt: int, error: BaseException, delay: float) -> None:
        pass

    def stage_finished(self, result: StageResult) -> None:
        with self.lock:
            self.shown.pop(result.stage, None)
            self.started.pop(result.stage, None)
            self.finished.add(result.stage)

    def stage_progress(self, stage: str, done: int, total: int | None) -> None:
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        now = time.monotonic()
        with self.lock:
            shown = self.shown.get(stage)
            if stage in self.finished:
                return
            if shown is None:
                rate = self.started.setdefault(stage, Rate(done, now))
                if not shown_yet(rate, now, self.delay):
                    return
                text = describe_progress(stage, done, total, rate, now)
                artifact = create_progress_artifact(percent(done, total), description=text)
                self.shown[stage] = _Shown(artifact, rate, now)
                return
            if now - shown.at < MIN_INTERVAL and not finished(done, total):
                return
            shown.at = now
        update_progress_artifact(
            shown.artifact, percent(done, total), description=describe_progress(stage, done, total, shown.rate, now)
        )


def percent(done: int, total: int | None) -> float:
    return 0.0 if not total else min(100.0, 100.0 * done / total)


def finished(done: int, total: int | None) -> bool:
    return total is not None and done >= total


def describe_progress(stage: str, done: int, total: int | None, rate: Rate, now: float) -> str:
    """`embed: 160 of 1607 (10%), ETA 1m51s`: the artifact's description, as its card shows only a bar."""
    text = f"{stage}: {done} of {total} ({percent(done, total):.0f}%)" if total else f"{stage}: {done}"
    eta = rate.eta(done, total, now)
    return text + (f", ETA {duration(eta)}" if eta is not None and not finished(done, total) else "")
