"""Which pipeline, run and stage the running code serves, for records made below the engine (the LLM gateway's
usage records and budgets), without components importing the engine.

The engine sets it around each stage, in the thread that runs the stage, as it does the progress listener
(components/progress.py). Outside a pipeline (a notebook, a test, `dagwright serve` later) it is empty unless the
caller sets it with ``running(...)``.

Example::

    from components.runinfo import current_run

    record(pipeline=current_run().pipeline, run_id=current_run().run_id)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RunInfo:
    pipeline: str = ""
    run_id: str = ""
    stage: str = ""
    # Who asked, when a request of `dagwright serve` started the run (budgets and records per endpoint and key):
    endpoint: str = ""  # the route, e.g. /v1/chat/completions
    org: str = ""  # the API key's organisation
    key_id: str = ""  # the first 12 hex digits of the key's SHA-256, never the key


NOWHERE = RunInfo()
_current: ContextVar[RunInfo | None] = ContextVar("dagwright_run", default=None)


def current_run() -> RunInfo:
    """The run the calling code works for; empty fields outside a pipeline."""
    return _current.get() or NOWHERE


def for_stage(pipeline: str, run_id: str, stage: str) -> RunInfo:
    """The current run info for one stage: the caller's endpoint, org and key kept, the run's fields set."""
    return replace(current_run(), pipeline=pipeline, run_id=run_id, stage=stage)


@contextmanager
def running(info: RunInfo) -> Iterator[None]:
    """Mark the code run in this context (this thread, while it lasts) as working for ``info``."""
    token = _current.set(info)
    try:
        yield
    finally:
        _current.reset(token)
