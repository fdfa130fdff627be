"""Stage events as Prefect log lines, so they show on the task and flow runs in the UI."""

from __future__ import annotations

from typing import Any

from flows.execute.report import describe
from flows.execute.runtime import StageResult, describe_error


class LogReporter:
    """Stage events as Prefect log lines, so they show on the task and flow runs in the UI."""

    def _logger(self) -> Any:
        from prefect.logging import get_run_logger

        return get_run_logger()

    def stage_started(self, stage: str, attempt: int) -> None:
        pass

    def stage_retrying(self, stage: str, attempt: int, error: BaseException, delay: float) -> None:
        self._logger().warning("attempt %d failed: %s; retrying in %gs", attempt, describe_error(error), delay)

    def stage_finished(self, result: StageResult) -> None:
        log = self._logger().error if result.status == "failed" else self._logger().info
        log("%s", describe(result))
