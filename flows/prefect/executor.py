"""The Prefect executor: a flow per pipeline (its params are the flow's parameters), a named task per stage.

Stages run as task runs (flows/prefect/stages.py), concurrently where the DAG allows, retried as the YAML says.
Caching is dagwright's content-hash cache (flows/execute/cache.py), the same as the in-process executor's, rather
than Prefect's cloudpickle-based keys. A run ends Completed with its final outputs' data as its persisted result
(JSON, so `run_deployment` callers and the API read it), or Failed with a one-line reason; its outputs, summary
and gate reports are artifacts (flows/prefect/publish.py).
"""

from __future__ import annotations

import copy
import keyword
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flows.errors import ParamError, StageFailed
from flows.execute.runtime import Reporter, RunContext, RunResult, default_store
from flows.execute.secrets import Secrets, scrubbed_logs, secrets_of_run
from flows.execute.session import state_dir
from flows.plan.planner import Plan

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
        try:
            result = run_plan_in_flow(plan, _revealed(copy.deepcopy(arguments)), reporter, use_cache=use_cache)
        except ParamError as exc:  # e.g. a value typed in the UI's run form: a reason, not a traceback
            return _failed(str(exc))
        if results is not None:
            results.append(result)
        return _final_state(plan, result)

    # The decorator form: Prefect's overloads type `flow(options)(fn)`, not `flow(fn, options)`.
    return flow(
        name=plan.name,
        description=plan.pipeline.description or None,
        version=plan.fingerprint,
        flow_run_name=lambda: _run_name(plan),
        # Prefect's TaskRunner is invariant in its future type, so its own documented usage fails to type-check.
        task_runner=ThreadPoolTaskRunner(max_workers=8),  # type: ignore[arg-type]
        validate_parameters=True,
        # The final outputs' data, as JSON in a folder of the project: a result written to a local folder given
        # as a path keeps its absolute path, so any process on this machine reads it (Prefect's results.py).
        persist_result=True,
        result_serializer="json",
        result_storage=flow_results_dir(plan),
    )(_entry_function(plan, body))


def flow_results_dir(plan: Plan) -> Path:
    return (state_dir(plan.project_root) / "flow-results").resolve()


def _run_name(plan: Plan) -> str:
    """The flow run's name, from the parameters it runs with (Prefect calls this in the run's context)."""
    from prefect.context import FlowRunContext

    from flows.prefect.naming import run_name

    context = FlowRunContext.get()
    params = _revealed(dict(context.parameters)) if context and context.parameters else {}
    try:
        bound = plan.bind_params(params)
        return run_name(plan, bound, secrets_of_run(plan, bound))
    except Exception:  # e.g. a param the run will refuse with its reason: a name is never worth a crashed run
        return plan.name


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
    from flows.prefect.logs import LogReporter, forget_task_runs
    from flows.prefect.progress import ProgressArtifacts
    from flows.prefect.publish import publish_run
    from flows.prefect.stages import StageRuns, run_stages

    started = time.perf_counter()
    bound = plan.bind_params(arguments)
    store = default_store(plan) if use_cache else None
    runs = StageRuns()
    gate_hook = lambda stage, report: runs.gates.setdefault(stage.id, []).append(report)  # noqa: E731
    reporters = TeeReporter(LogReporter(), ProgressArtifacts(), reporter)
    ctx = RunContext(plan, bound, store, reporters, gate_hook=gate_hook)
    secrets = ctx.secrets or Secrets()
    with scrubbed_logs(secrets):
        try:
            stages = run_stages(plan, ctx, runs)
        finally:
            forget_task_runs(list(runs.task_runs.values()))
        failed = next((r for r in stages.values() if r.status == "failed"), None)
        error = StageFailed(plan.name, failed.stage, failed.error or "") if failed else None
        result = RunResult(plan.name, bound, stages, time.perf_counter() - started, error)
        publish_run(plan, result, runs.gates, runs.task_runs, secrets)
    return result


def _final_state(plan: Plan, result: RunResult) -> Any:
    """Completed with the final outputs' data as the run's result, or Failed with a one-line reason (not an
    exception, so Prefect logs no traceback for it)."""
    from prefect.states import Completed

    from flows.execute.outputs import result_data

    if result.error is not None:
        return _failed(str(result.error))
    data = result_data(plan, result, secrets_of_run(plan, result.params))
    return Completed(message=f"{len(result.stages)} stages in {result.seconds:.2f}s", data=data)


def _failed(reason: str) -> Any:
    """A Failed state whose reason is the whole story: the engine's traceback for it is filtered out."""
    from prefect.context import FlowRunContext
    from prefect.states import Failed

    from flows.prefect.logs import reports_flow_failure

    context = FlowRunContext.get()
    if context is not None and context.flow_run is not None:
        reports_flow_failure(context.flow_run.id)
    return Failed(message=reason)
