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
from dataclasses import dataclass, field
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
    failed_result,
    failure_gates,
    is_retryable,
    seconds_since,
)
from flows.execute.secrets import Secrets, scrubbed_exception, scrubbed_logs
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
            result = run_plan_in_flow(plan, _revealed(copy.deepcopy(arguments)), reporter, use_cache=use_cache)
        except ParamError as exc:  # e.g. a value typed in the UI's run form: a reason, not a traceback
            return Failed(message=str(exc))
        if results is not None:
            results.append(result)
        return _final_state(result)

    # The decorator form: Prefect's overloads type `flow(options)(fn)`, not `flow(fn, options)`.
    return flow(
        name=plan.name,
        description=plan.pipeline.description or None,
        version=plan.fingerprint,
        # Prefect's TaskRunner is invariant in its future type, so its own documented usage fails to type-check.
        task_runner=ThreadPoolTaskRunner(max_workers=8),  # type: ignore[arg-type]
        validate_parameters=True,
        persist_result=False,
    )(_entry_function(plan, body))


def _entry_function(plan: Plan, body: Callable[[dict[str, Any]], Any]) -> Callable[..., Any]:
    """A function whose signature is the pipeline's params, so Prefect shows and validates them as parameters."""
    namespace: dict[str, Any] = {"_body": body}
    required, optional = [], []
    for i, (name, param) in enumerate(plan.pipeline.params.items()):
        namespace[f"_type{i}"] = _secret_type() if param.secret else param.python_type
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


def _secret_type() -> type:
    """A secret param's flow parameter type: Prefect shows it as a password field and stores it masked."""
    from pydantic import SecretStr

    return SecretStr


def flow_arguments(plan: Plan, params: dict[str, Any]) -> dict[str, Any]:
    """The flow's arguments for bound ``params``: a secret one wrapped, so Prefect stores the run's parameter
    masked ('**********') rather than in clear."""
    from pydantic import SecretStr

    secret = {n for n, p in plan.pipeline.params.items() if p.secret}
    return {k: SecretStr(v) if k in secret and isinstance(v, str) else v for k, v in params.items()}


def _revealed(arguments: dict[str, Any]) -> dict[str, Any]:
    from pydantic import SecretStr

    return {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in arguments.items()}


def run_plan_in_flow(
    plan: Plan, arguments: dict[str, Any], reporter: Reporter | None, *, use_cache: bool = True
) -> RunResult:
    from flows.execute.report import TeeReporter
    from flows.prefect.logs import LogReporter
    from flows.prefect.progress import ProgressArtifacts

    started = time.perf_counter()
    bound = plan.bind_params(arguments)
    store = default_store(plan) if use_cache else None
    reporters = TeeReporter(LogReporter(), ProgressArtifacts(), reporter)
    ctx = RunContext(plan, bound, store, reporters, gate_hook=publish_gate)
    futures: dict[str, Any] = {}
    attempts = _Attempts()
    with scrubbed_logs(ctx.secrets or Secrets()):
        for stage in plan.stages:
            upstream = {u: futures[u] for u in stage.upstream}
            futures[stage.id] = _stage_task(stage, ctx, attempts).submit(upstream)
        stages = {sid: _collect(sid, future, ctx, attempts) for sid, future in futures.items()}
    failed = next((r for r in stages.values() if r.status == "failed"), None)
    error = StageFailed(plan.name, failed.stage, failed.error or "") if failed else None
    result = RunResult(plan.name, bound, stages, time.perf_counter() - started, error)
    _publish_summary(result)
    return result


@dataclass
class _Attempts:
    """What the stages' task runs tell the flow: attempts so far, the time they took, and final failures."""

    count: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    failed: dict[str, StageResult] = field(default_factory=dict)  # reported by the task run itself

    def start(self, stage: str) -> int:
        self.count[stage] = self.count.get(stage, 0) + 1
        return self.count[stage]

    def add_time(self, stage: str, seconds: float) -> float:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        return self.seconds[stage]


def _stage_task(stage: PlannedStage, ctx: RunContext, attempts: _Attempts) -> Any:
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    policies = stage.policies

    def run_stage(upstream: dict[str, StageResult]) -> StageResult:
        attempt = attempts.start(stage.id)
        ctx.reporter.stage_started(stage.id, attempt)
        started = time.perf_counter()
        try:
            result = execute_stage(stage, ctx, upstream, attempt)
        except Exception as exc:
            seconds = attempts.add_time(stage.id, seconds_since(started, failure_gates(exc)))
            shown = scrubbed_exception(exc, ctx.secrets or Secrets(), retryable=is_retryable(exc))
            if attempt <= (policies.retries or 0) and is_retryable(exc):
                ctx.reporter.stage_retrying(stage.id, attempt, shown, policies.retry_delay or 0.0)
            else:  # reported here, so its line is on the task run's log beside Prefect's traceback
                failed = failed_result(stage.id, exc, seconds=seconds, attempts=attempt, secrets=ctx.secrets)
                attempts.failed[stage.id] = failed
                ctx.reporter.stage_finished(failed)
            if shown is exc:
                raise
        else:
            ctx.reporter.stage_finished(result)
            return result
        # Outside the except block, so the scrubbed exception has no context: Prefect logs its traceback and
        # keeps its message in the task run's state, and neither may show the original's text.
        raise shown

    run_stage.__name__ = run_stage.__qualname__ = stage.id
    return task(
        name=stage.id,
        task_run_name=stage.id,
        description=f"{stage.uses} ({stage.component.__qualname__})",
        retries=policies.retries or 0,
        retry_delay_seconds=policies.retry_delay or 0,
        retry_condition_fn=_retry_unless_gate_failed,
        timeout_seconds=policies.timeout,
        cache_policy=NO_CACHE,
        persist_result=False,
    )(run_stage)


def _collect(sid: str, future: Any, ctx: RunContext, attempts: _Attempts) -> StageResult:
    future.wait()
    state = future.state
    if state.is_completed():
        return future.result()
    if sid in attempts.failed:
        return attempts.failed[sid]
    if state.is_failed() or state.is_crashed():  # it failed outside the stage's code: a timeout, a crash
        exc = _state_exception(state)
        seconds, count = attempts.seconds.get(sid, 0.0), attempts.count.get(sid, 0)
        if exc is None:
            error = (ctx.secrets or Secrets()).scrub(state.message or state.name)
            result = StageResult(sid, "failed", seconds=seconds, attempts=count, error=error)
        else:
            result = failed_result(sid, exc, seconds=seconds, attempts=count, secrets=ctx.secrets)
    else:  # Prefect never started it: an upstream stage failed
        result = StageResult(sid, "skipped", error="an upstream stage did not complete")
    ctx.reporter.stage_finished(result)
    return result


def _state_exception(state: Any) -> Exception | None:
    try:
        state.result(raise_on_failure=True)
    except Exception as exc:
        return exc
    return None


def _retry_unless_gate_failed(task: Any, task_run: Any, state: Any) -> bool:
    exc = _state_exception(state)
    return exc is None or is_retryable(exc)


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
