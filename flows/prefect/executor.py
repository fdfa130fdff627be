"""The Prefect executor: a flow per pipeline (its params are the flow's parameters), a named task per stage.

Stages are submitted together with their upstream futures, so Prefect runs independent stages concurrently,
draws the DAG in its UI, and never starts a stage whose upstream failed. Retries and timeouts are Prefect's own,
set from the plan. Caching is dagwright's content-hash cache (flows/cache.py), the same as the in-process
executor's, rather than Prefect's cloudpickle-based keys.
"""

from __future__ import annotations

import copy
import keyword
import time
from collections.abc import Callable
from typing import Any

from flows.errors import ParamError, StageFailed
from flows.execute.report import summary_markdown, summary_rows
from flows.execute.runtime import (
    Reporter,
    RunContext,
    RunResult,
    StageResult,
    default_store,
    execute_stage,
)
from flows.plan.planner import Plan, PlannedStage

ENTRYPOINT_MODULE = "flows.prefect.entrypoints"


def flow_function_name(pipeline: str) -> str:
    """A Python identifier for a pipeline name (deployments import flows by it)."""
    name = pipeline.replace("-", "_")
    return f"{name}_" if keyword.iskeyword(name) else name


def build_flow(
    plan: Plan, reporter: Reporter | None = None, results: list[RunResult] | None = None, *, use_cache: bool = True
) -> Any:
    """A Prefect flow that runs ``plan``. ``results`` (if given) receives the RunResult of each run."""
    from prefect import flow
    from prefect.task_runners import ThreadPoolTaskRunner

    def body(arguments: dict[str, Any]) -> Any:
        from prefect.states import Failed

        try:
            result = run_plan_in_flow(plan, copy.deepcopy(arguments), reporter, use_cache=use_cache)
        except ParamError as exc:  # e.g. a value typed in the UI's run form: a reason, not a traceback
            return Failed(message=str(exc))
        if results is not None:
            results.append(result)
        return _final_state(result)

    return flow(
        _entry_function(plan, body),
        name=plan.name,
        description=plan.pipeline.description or None,
        version=plan.fingerprint,
        task_runner=ThreadPoolTaskRunner(max_workers=8),
        validate_parameters=True,
        persist_result=False,
    )


def _entry_function(plan: Plan, body: Callable[[dict[str, Any]], Any]) -> Callable[..., Any]:
    """A function whose signature is the pipeline's params, so Prefect shows and validates them as parameters."""
    namespace: dict[str, Any] = {"_body": body}
    required, optional = [], []
    for i, (name, param) in enumerate(plan.pipeline.params.items()):
        namespace[f"_type{i}"] = param.python_type
        if param.required:
            required.append(f"{name}: _type{i}")
        else:
            namespace[f"_default{i}"] = param.default
            optional.append(f"{name}: _type{i} = _default{i}")
    fn_name = flow_function_name(plan.name)
    source = f"def {fn_name}({', '.join(required + optional)}):\n    return _body(dict(locals()))\n"
    exec(compile(source, f"<dagwright pipeline {plan.name}>", "exec"), namespace)
    fn = namespace[fn_name]
    fn.__module__ = ENTRYPOINT_MODULE
    fn.__doc__ = plan.pipeline.description
    return fn


def run_plan_in_flow(
    plan: Plan, arguments: dict[str, Any], reporter: Reporter | None, *, use_cache: bool = True
) -> RunResult:
    from flows.execute.report import TeeReporter
    from flows.prefect.logs import LogReporter

    started = time.perf_counter()
    bound = plan.bind_params(arguments)
    store = default_store(plan) if use_cache else None
    ctx = RunContext(plan, bound, store, TeeReporter(LogReporter(), reporter), gate_hook=publish_gate)
    futures: dict[str, Any] = {}
    attempts: dict[str, int] = {}  # stage -> attempts so far, written by the stage's task run
    for stage in plan.stages:
        upstream = {u: futures[u] for u in stage.upstream}
        futures[stage.id] = _stage_task(stage, ctx, attempts).submit(upstream)
    stages = {sid: _collect(sid, future, ctx, attempts) for sid, future in futures.items()}
    failed = next((r for r in stages.values() if r.status == "failed"), None)
    error = StageFailed(plan.name, failed.stage, failed.error or "") if failed else None
    result = RunResult(plan.name, bound, stages, time.perf_counter() - started, error)
    _publish_summary(result)
    return result


def _stage_task(stage: PlannedStage, ctx: RunContext, attempts: dict[str, int]) -> Any:
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    policies = stage.policies

    def run_stage(upstream: dict[str, StageResult]) -> StageResult:
        attempt = attempts[stage.id] = attempts.get(stage.id, 0) + 1
        ctx.reporter.stage_started(stage.id, attempt)
        try:
            result = execute_stage(stage, ctx, upstream, attempt)
        except Exception as exc:
            if attempt <= (policies.retries or 0) and getattr(exc, "report", None) is None:
                ctx.reporter.stage_retrying(stage.id, attempt, exc, policies.retry_delay or 0.0)
            raise
        ctx.reporter.stage_finished(result)
        return result

    run_stage.__name__ = run_stage.__qualname__ = stage.id
    return task(
        run_stage,
        name=stage.id,
        task_run_name=stage.id,
        description=f"{stage.uses} ({stage.component.__qualname__})",
        retries=policies.retries or 0,
        retry_delay_seconds=policies.retry_delay or 0,
        retry_condition_fn=_retry_unless_gate_failed,
        timeout_seconds=policies.timeout,
        cache_policy=NO_CACHE,
        persist_result=False,
    )


def _collect(sid: str, future: Any, ctx: RunContext, attempts: dict[str, int]) -> StageResult:
    future.wait()
    state = future.state
    if state.is_completed():
        return future.result()
    if state.is_failed() or state.is_crashed():
        error, report = _state_error(state)
        result = StageResult(
            sid, "failed", attempts=attempts.get(sid, 0), error=error, gates=[report] if report is not None else []
        )
    else:  # Prefect never started it: an upstream stage failed
        result = StageResult(sid, "skipped", error="an upstream stage did not complete")
    ctx.reporter.stage_finished(result)
    return result


def _state_error(state: Any) -> tuple[str, Any]:
    """The failure as one line, and the gate report when a check failed."""
    try:
        state.result(raise_on_failure=True)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}", getattr(exc, "report", None)
    return state.message or state.name, None


def _retry_unless_gate_failed(task: Any, task_run: Any, state: Any) -> bool:
    """Retries are for flaky infrastructure; a failed data-quality gate fails the same way every time."""
    try:
        state.result(raise_on_failure=True)
    except Exception as exc:
        return getattr(exc, "report", None) is None
    return True


def publish_gate(stage: PlannedStage, report: Any) -> None:
    """A gate's results as a table artifact plus a markdown summary on the stage's task run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from flows.execute.report import gate_markdown, gate_rows

    key = f"{stage.id}-gate".lower().replace("_", "-")
    create_table_artifact(table=gate_rows(report), key=key, description=f"checks of stage {stage.id}")
    create_markdown_artifact(markdown=gate_markdown(report), key=f"{key}-summary")


def _final_state(result: RunResult) -> Any:
    """A Failed state with a one-line reason instead of an exception, so Prefect logs no traceback for it."""
    from prefect.states import Completed, Failed

    if result.error is not None:
        return Failed(message=str(result.error))
    return Completed(message=f"{len(result.stages)} stages in {result.seconds:.2f}s")


def _publish_summary(result: RunResult) -> None:
    from prefect.artifacts import create_table_artifact

    create_table_artifact(
        table=summary_rows(result),
        key=f"{result.pipeline.lower().replace('_', '-')}-summary",
        description=summary_markdown(result),
    )
