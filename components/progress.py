"""Progress of a long stage, reported by the component (or the resource it calls) to whoever runs it.

A component calls ``report_progress(done, total)`` as it works, e.g. once per batch. The engine listens while
the stage runs and shows it: a progress bar in the terminal, a progress artifact in the Prefect UI. Outside a
pipeline (a notebook, a test) nobody listens and the call costs one context-variable lookup. Components never
learn who listens, so they never import the engine or Prefect.

The listener is a context variable, set by the engine in the thread that runs the stage: work that a component
hands to threads of its own reports nothing unless it reports from the calling thread.

Example::

    from components.progress import report_progress

    for start in range(0, len(texts), batch):
        embed(texts[start : start + batch])
        report_progress(min(start + batch, len(texts)), len(texts))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ProgressListener = Callable[[int, int | None], None]

_listener: ContextVar[ProgressListener | None] = ContextVar("dagwright_progress", default=None)


def report_progress(done: int, total: int | None = None) -> None:
    """``done`` items of ``total`` (None when unknown) finished so far in the running stage."""
    listener = _listener.get()
    if listener is not None:
        listener(done, total)


@contextmanager
def listening(listener: ProgressListener) -> Iterator[None]:
    """Send the progress reported in this context (this thread, while it lasts) to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
