"""Stage events as Prefect log lines, so they show on the task and flow runs in the UI; and the filter that keeps
Prefect from saying the same things again, louder.

A failing stage logs one line from dagwright: its reason, with the traceback once when it can help (a bug, an
outage; not a missing folder or a failed gate). Prefect would add its own lines for the same event: "Task run
failed with exception" with a traceback through its engine (again on each retry), "Finished in state Failed(...)"
at ERROR and, in a deployment's flow-run process, "Engine execution exited with unexpected exception" with ~30
lines of its own traceback after the flow run has already failed with its one-line reason. The filter drops
exactly those lines for the task runs and flow runs whose outcome dagwright reports itself, and nothing else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flows.execute.report import describe
from flows.execute.runtime import StageResult, describe_error

# Prefect's messages that repeat a stage's outcome, as its task engine words them (prefect/task_engine.py).
_TASK_ECHOES = ("Task run failed with exception", "Task run failed with state", "Finished in state")
# What its flow engine logs when a run that failed is returned to a deployment's process (prefect/flow_engine.py).
_ENGINE_EXIT = "Engine execution exited with unexpected exception"


# The logger of a task run that is not running (a skipped stage's), for lines made outside its context.
_task_run_logger: ContextVar[Any] = ContextVar("dagwright_task_run_logger", default=None)


@contextmanager
def logging_on(logger: Any) -> Iterator[None]:
    """Within this block, stage lines go to ``logger`` rather than to the current run's."""
    token = _task_run_logger.set(logger)
    try:
        yield
    finally:
        _task_run_logger.reset(token)


class LogReporter:
    """Stage events as Prefect log lines, so they show on the task and flow runs in the UI."""

    def _logger(self) -> Any:
        from prefect.logging import get_run_logger

        return _task_run_logger.get() or get_run_logger()

    def stage_started(self, stage: str, attempt: int) -> None:
        pass

    def stage_retrying(self, stage: str, attempt: int, error: BaseException, delay: float) -> None:
        self._logger().warning("attempt %d failed: %s; retrying in %gs", attempt, describe_error(error), delay)

    def stage_finished(self, result: StageResult) -> None:
        if result.status == "failed":
            # The traceback once, here: Prefect's own copy of it is filtered out (see _PrefectEchoes).
            self._logger().error("%s", describe(result, verbose=not result.deterministic_failure))
        else:
            self._logger().info("%s", describe(result))


class _PrefectEchoes(logging.Filter):
    """Drops Prefect's lines about runs whose outcome dagwright logs itself (registered by id)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.task_runs: set[str] = set()
        self.failed_flow_runs: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        if message.startswith(_TASK_ECHOES) and str(getattr(record, "task_run_id", None)) in self.task_runs:
            # A completed stage's "Finished in state Completed()" is INFO and harmless; the rest repeat a failure.
            return message.startswith("Finished in state Completed")
        if message == _ENGINE_EXIT and str(getattr(record, "flow_run_id", None)) in self.failed_flow_runs:
            from prefect.exceptions import FailedRun

            # Only the exception made from the Failed state dagwright returned; anything else is a real crash.
            return not (record.exc_info and isinstance(record.exc_info[1], FailedRun))
        return True


# One per process, as the loggers it filters are.
_echoes = _PrefectEchoes()


def _install() -> None:
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logging.getLogger(name).addFilter(_echoes)  # a no-op when it is there already


def reports_task_run(task_run_id: Any) -> None:
    """This task run's outcome is logged by its stage line: Prefect's repeats of it are dropped."""
    _install()
    with _echoes._lock:
        _echoes.task_runs.add(str(task_run_id))


def forget_task_runs(task_run_ids: list[Any]) -> None:
    """The task runs are over (their last Prefect line is logged): stop tracking them."""
    with _echoes._lock:
        _echoes.task_runs.difference_update(str(t) for t in task_run_ids)


def reports_flow_failure(flow_run_id: Any) -> None:
    """This flow run ends Failed with dagwright's one-line reason: the engine's traceback for it is dropped.
    Kept for the process's life: the engine logs it after the flow function has returned."""
    _install()
    with _echoes._lock:
        _echoes.failed_flow_runs.add(str(flow_run_id))
