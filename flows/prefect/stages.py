"""The stages of a flow run as Prefect task runs: one named task per stage, started once its upstream stages
completed, concurrently with the others; a stage that cannot run is recorded as skipped, under its name.

Prefect's own way (submit every task with its upstream futures) leaves a stage whose upstream failed as a
`NotReady` task run named with a random suffix (`chunk-68d`), with an ERROR naming a task-run UUID. Here the flow
submits a stage only when its upstream stages completed; one that cannot run gets a task run named after it, in a
final `Skipped` state (of type CANCELLED: it did not run, and it did not fail) whose message names the failed
stage, linked to its upstream task runs so the run's graph keeps its edges.

Timeouts are dagwright's own (flows/execute/runtime.call_with_timeout), as in the in-process executor: Prefect's
cannot interrupt a stage running in a worker thread, so a stage would run to its end and then be reported as
timed out, with 0.0 ms of its own time.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flows.execute.runtime import (
    RunContext,
    StageResult,
    call_with_timeout,
    execute_stage,
    failed_result,
    failure_gates,
    is_retryable,
    seconds_since,
    skipped_result,
)
from flows.execute.secrets import Secrets, scrubbed_exception
from flows.plan.planner import Plan, PlannedStage
from flows.prefect.logs import logging_on, reports_task_run

SKIPPED = "Skipped"


@dataclass
class StageRuns:
    """What the stages' task runs tell the flow: attempts, the time they took, their outcomes and gate reports."""

    count: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, StageResult] = field(default_factory=dict)  # reported by the task run itself
    task_runs: dict[str, Any] = field(default_factory=dict)  # stage -> task run id
    gates: dict[str, list[Any]] = field(default_factory=dict)  # stage -> its last attempt's gate reports

    def start(self, stage: str) -> int:
        self.count[stage] = self.count.get(stage, 0) + 1
        self.gates[stage] = []  # a retried stage shows its last attempt's checks
        return self.count[stage]

    def add_time(self, stage: str, seconds: float) -> float:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        return self.seconds[stage]


def run_stages(plan: Plan, ctx: RunContext, runs: StageRuns) -> dict[str, StageResult]:
    """Run every stage of ``plan`` as a task run; returns each stage's result, in stage order."""
    tasks = {stage.id: stage_task(stage, ctx, runs) for stage in plan.stages}
    finished: queue.Queue[str] = queue.Queue()
    futures: dict[str, Any] = {}
    results: dict[str, StageResult] = {}
    waiting = list(plan.stages)
    while True:
        waiting = _start_ready(waiting, results, futures, tasks, finished, ctx, runs)
        if len(results) == len(plan.stages):
            return {s.id: results[s.id] for s in plan.stages}
        stage_id = finished.get()
        results[stage_id] = _collect(stage_id, futures[stage_id], ctx, runs)


def _start_ready(
    waiting: list[PlannedStage],
    results: dict[str, StageResult],
    futures: dict[str, Any],
    tasks: Mapping[str, Any],
    finished: queue.Queue[str],
    ctx: RunContext,
    runs: StageRuns,
) -> list[PlannedStage]:
    """Submit each waiting stage whose upstream stages all completed, skip those with one that did not; the
    stages still waiting are returned. Skips cascade within one call (stages are in a topological order)."""
    still = []
    for stage in waiting:
        upstream = [results.get(u) for u in stage.upstream]
        blocked = next((r for r in upstream if r is not None and not r.ok), None)
        if blocked is not None:
            results[stage.id] = _skip(stage, blocked, tasks[stage.id], ctx, runs)
        elif all(r is not None for r in upstream):
            future = tasks[stage.id].submit({u: futures[u] for u in stage.upstream})
            future.add_done_callback(lambda _, sid=stage.id: finished.put(sid))
            futures[stage.id] = future
        else:
            still.append(stage)
    return still


def _skip(stage: PlannedStage, blocked: StageResult, task: Any, ctx: RunContext, runs: StageRuns) -> StageResult:
    """Record ``stage`` as skipped: a task run made in its final state, without running anything."""
    from prefect import get_client
    from prefect.client.schemas.objects import TaskRunResult
    from prefect.context import FlowRunContext
    from prefect.logging.loggers import task_run_logger
    from prefect.states import Cancelled

    result = skipped_result(stage.id, blocked)
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None  # the flow body calls this
    # Skipped upstream stages too, so a chain of skipped stages keeps its edges in the run's graph.
    upstream = [TaskRunResult(id=runs.task_runs[u]) for u in stage.upstream if u in runs.task_runs]
    with get_client(sync_client=True) as client:
        task_run = client.create_task_run(
            task=task,
            flow_run_id=context.flow_run.id,
            dynamic_key=f"{stage.id}-skipped",
            name=stage.id,
            state=Cancelled(name=SKIPPED, message=result.error),
            task_inputs={"upstream": upstream},  # type: ignore[dict-item]  # its list type is invariant
        )
    runs.task_runs[stage.id] = task_run.id
    with logging_on(task_run_logger(task_run, task=task, flow_run=context.flow_run, flow=context.flow)):
        ctx.reporter.stage_finished(result)  # its line on its own task run's log
    return result


def stage_task(stage: PlannedStage, ctx: RunContext, runs: StageRuns) -> Any:
    """The Prefect task of one stage: named after it, retried as the YAML says, never retried for a failure that
    would repeat (a gate, a missing folder, a bad setting)."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    def run_stage(upstream: dict[str, StageResult]) -> StageResult:
        return _attempt(stage, ctx, runs, upstream)

    run_stage.__name__ = run_stage.__qualname__ = stage.id
    return task(
        name=stage.id,
        task_run_name=stage.id,
        description=f"{stage.uses} ({stage.component.__qualname__})",
        retries=stage.policies.retries or 0,
        retry_delay_seconds=stage.policies.retry_delay or 0,
        retry_condition_fn=_retry_unless_deterministic,
        cache_policy=NO_CACHE,
        persist_result=False,
    )(run_stage)


def _attempt(stage: PlannedStage, ctx: RunContext, runs: StageRuns, upstream: dict[str, StageResult]) -> StageResult:
    """One attempt at ``stage`` inside its task run. A failure is reported here, so its line is on the task
    run's log, then raised for Prefect to fail (or retry) the task run."""
    from prefect.context import TaskRunContext

    task_run = TaskRunContext.get()
    if task_run is not None and task_run.task_run is not None:
        runs.task_runs[stage.id] = task_run.task_run.id
        reports_task_run(task_run.task_run.id)
    attempt = runs.start(stage.id)
    ctx.reporter.stage_started(stage.id, attempt)
    started = time.perf_counter()
    try:
        run = lambda: execute_stage(stage, ctx, upstream, attempt)  # noqa: E731
        result = call_with_timeout(run, stage.policies.timeout, stage.id)
    except Exception as exc:
        shown = _report_failure(stage, ctx, runs, exc, attempt, seconds_since(started, failure_gates(exc)))
        if shown is exc:
            raise
    else:
        runs.outcomes[stage.id] = result
        ctx.reporter.stage_finished(result)
        return result
    # Outside the except block, so the scrubbed exception has no context: Prefect keeps its message in the task
    # run's state, and that may not show the original's text.
    raise shown


def _report_failure(
    stage: PlannedStage, ctx: RunContext, runs: StageRuns, exc: Exception, attempt: int, seconds: float
) -> BaseException:
    """Report a failed attempt (retrying, or the stage's failure) and return the exception to raise."""
    seconds = runs.add_time(stage.id, seconds)
    shown = scrubbed_exception(exc, ctx.secrets or Secrets(), retryable=is_retryable(exc))
    if attempt <= (stage.policies.retries or 0) and is_retryable(exc):
        ctx.reporter.stage_retrying(stage.id, attempt, shown, stage.policies.retry_delay or 0.0)
    else:
        failed = failed_result(stage.id, exc, seconds=seconds, attempts=attempt, secrets=ctx.secrets)
        runs.outcomes[stage.id] = failed
        ctx.reporter.stage_finished(failed)
    return shown


def _collect(stage_id: str, future: Any, ctx: RunContext, runs: StageRuns) -> StageResult:
    """A finished task run's result: as its stage reported it, else (it failed outside the stage's code, e.g. the
    process ran out of memory) from its state."""
    if stage_id in runs.outcomes:
        return runs.outcomes[stage_id]
    state = future.state
    exc = _state_exception(state)
    seconds, count = runs.seconds.get(stage_id, 0.0), runs.count.get(stage_id, 0)
    if exc is None:
        error = (ctx.secrets or Secrets()).scrub(state.message or state.name)
        result = StageResult(stage_id, "failed", seconds=seconds, attempts=count, error=error)
    else:
        result = failed_result(stage_id, exc, seconds=seconds, attempts=count, secrets=ctx.secrets)
    ctx.reporter.stage_finished(result)
    return result


def _state_exception(state: Any) -> Exception | None:
    try:
        state.result(raise_on_failure=True)
    except Exception as exc:
        return exc
    return None


def _retry_unless_deterministic(task: Any, task_run: Any, state: Any) -> bool:
    exc = _state_exception(state)
    return exc is None or is_retryable(exc)
