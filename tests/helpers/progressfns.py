"""A typed function that test pipelines call through `python.call` to report progress as a long stage does."""

from __future__ import annotations

import time

from components.progress import report_progress


def counted(n: int, batch: int = 10, pause: float = 0.0) -> int:
    """Counts to ``n`` a batch at a time, reporting its progress after each; ``pause`` seconds a batch."""
    for done in range(batch, n + batch, batch):
        time.sleep(pause)
        report_progress(min(done, n), n)
    return n
