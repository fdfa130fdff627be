"""Stage progress in the terminal: Rich bars with count and ETA on a TTY, plain periodic lines elsewhere (a log,
CI, a pipe), where a bar's carriage returns would be noise. Rich (installed with Prefect) loads only when the
first progress report reaches a TTY, so commands that show none pay nothing for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

# A plain line at each tenth of the work, and at least this often while the count moves (a total-less stage).
LINE_STEP = 0.1
LINE_SECONDS = 10.0
# Progress shows once a stage has been reporting this long: a bar, lines or an artifact for a stage that is over
# in a blink is noise (the embed of an 11-chunk ingest printed two lines for half a second of work).
DELAY = 1.0


def shown_yet(rate: Rate, now: float, delay: float | None) -> bool:
    return now - rate.started >= (DELAY if delay is None else delay)


@dataclass
class Rate:
    """A stage's progress since its first report, from which the ETA is estimated."""

    first_done: int
    started: float = field(default_factory=time.monotonic)

    def eta(self, done: int, total: int | None, now: float) -> float | None:
        """Seconds left at the rate seen since the first report; None until the count has moved."""
        moved, elapsed = done - self.first_done, now - self.started
        if total is None or moved <= 0 or elapsed <= 0:
            return None
        return max(total - done, 0) * elapsed / moved


def duration(seconds: float) -> str:
    """``42s``, ``2m05s``, ``1h03m``: short enough for a progress line."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def progress_line(stage: str, done: int, total: int | None, elapsed: float, eta: float | None) -> str:
    count = f"{done}/{total} ({done / total:.0%})" if total else str(done)
    line = f"{stage:<16} progress {count}  elapsed {duration(elapsed)}"
    return line + (f"  ETA {duration(eta)}" if eta is not None else "")


class ProgressLines:
    """Progress as a plain line per tenth of the work (and every ``LINE_SECONDS`` while it moves)."""

    def __init__(self, write: Callable[[str], None], delay: float | None = None) -> None:
        self.write, self.delay = write, delay
        self.rates: dict[str, Rate] = {}
        self.shown: dict[str, tuple[int, float]] = {}  # stage -> (tenths shown, when)

    def update(self, stage: str, done: int, total: int | None) -> None:
        rate = self.rates.setdefault(stage, Rate(done))
        now = time.monotonic()
        if not shown_yet(rate, now, self.delay):
            return
        step = int(done / total / LINE_STEP) if total else 0
        last_step, last_time = self.shown.get(stage, (-1, rate.started))
        due = step > last_step or (done > rate.first_done and now - last_time >= LINE_SECONDS)
        if stage not in self.shown or due:
            self.shown[stage] = (step, now)
            self.write(progress_line(stage, done, total, now - rate.started, rate.eta(done, total, now)))

    def finish(self, stage: str) -> None:
        self.rates.pop(stage, None)
        self.shown.pop(stage, None)

    def print(self, text: str) -> bool:
        return False  # stage lines go to the stream as usual


class ProgressBars:
    """One Rich bar per running stage (count, percent, elapsed, ETA), live while any stage reports progress.
    Lines printed meanwhile go through Rich, above the bars, so the two never overwrite each other."""

    def __init__(self, stream: TextIO, delay: float | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=True,  # the stage's own line replaces its bar when it finishes
        )
        self.tasks: dict[str, Any] = {}
        self.rates: dict[str, Rate] = {}
        self.delay = delay

    def update(self, stage: str, done: int, total: int | None) -> None:
        if not shown_yet(self.rates.setdefault(stage, Rate(done)), time.monotonic(), self.delay):
            return
        if not self.tasks:
            self.progress.start()
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total, completed=done)
        self.progress.update(self.tasks[stage], completed=done, total=total)

    def finish(self, stage: str) -> None:
        self.rates.pop(stage, None)
        task = self.tasks.pop(stage, None)
        if task is None:
            return
        self.progress.remove_task(task)
        if not self.tasks:
            self.progress.stop()

    def print(self, text: str) -> bool:
        if not self.tasks:
            return False
        self.progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
        return True


def display_for(stream: TextIO, write: Callable[[str], None]) -> ProgressLines | ProgressBars:
    isatty = getattr(stream, "isatty", None)
    return ProgressBars(stream) if isatty is not None and isatty() else ProgressLines(write)
