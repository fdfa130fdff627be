"""Running one stage, the same way under both executors: inputs, params, cache, component call, row counts."""

from __future__ import annotations

import contextvars
import numbers
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import components
from components.base import Component, ComponentParams, FailedWithOutputs, PermanentError, split_outputs
from flows.errors import ParamError, SettingError, StageFailed, StageTimeout
from flows.execute.cache import MISS, ResultStore, cache_key
from flows.execute.dependencies import code_hash, files_hash, library_versions
from flows.execute.secrets import ScrubbedError, Secrets, scrub_gate, scrub_result, secrets_of_run
from flows.execute.session import Provider, provider_for, state_dir, used_identities
from flows.language.refs import ParamRef
from flows.plan.planner import Plan, PlannedStage
from flows.plan.stageparams import StageParamsError, resolve_params

Status = Literal["completed", "cached", "checked", "failed", "skipped"]


@dataclass
class StageResult:
    stage: str
    status: Status
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    attempts: int = 0
    rows_in: int | None = None
    rows_out: int | None = None
    error: str | None = None  # one line: the exception's type and message
    gates: list[Any] = field(default_factory=list)  # GateReports of its input and output checks
    # A failure's exception, and its traceback formatted where it was caught: what `-v` shows of a bug.
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    traceback: str | None = None
    blocked_by: str | None = None  # a skipped stage's reason: the failed stage it depends on

    @property
    def deterministic_failure(self) -> bool:
        """A failure that would repeat on every attempt (a gate, a missing folder, a bad setting): its reason
        says it all, where a bug's or an outage's traceback helps."""
        return self.exception is not None and not is_retryable(self.exception)

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "cached", "checked")

    @property
    def load_seconds(self) -> float:
        """Time its gates spent loading Great Expectations (once per process), left out of ``seconds``."""
        return sum(g.load_seconds for g in self.gates)


def failed_result(
    stage: str, exc: BaseException, *, seconds: float, attempts: int, secrets: Secrets | None = None
) -> StageResult:
    """The result of a stage whose last attempt raised ``exc``; a failed gate brings its report. Its text (error,
    traceback, gate observations) has the run's ``secrets`` masked: it is what every reporter shows."""
    result = StageResult(
        stage,
        "failed",
        seconds=seconds,
        attempts=attempts,
        outputs=exc.by_port if isinstance(exc, FailedWithOutputs) else {},
        error=describe_error(exc),
        gates=failure_gates(exc),
        exception=exc,
        traceback="".join(traceback.format_exception(exc)),
    )
    return scrub_result(result, secrets) if secrets else result


def skipped_result(stage: str, upstream: StageResult) -> StageResult:
    """A stage not run because ``upstream``, which it depends on, failed or was itself skipped; the reason names
    the stage that failed, however far up the chain."""
    failed = upstream.blocked_by or upstream.stage
    return StageResult(stage, "skipped", error=f"not run: stage '{failed}' failed", blocked_by=failed)


def failure_gates(exc: BaseException) -> list[Any]:
    """The report of a failed gate, which the stage's result keeps; none for any other failure."""
    from flows.execute.gates import GateFailed

    return [exc.report] if isinstance(exc, GateFailed) else []


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, ScrubbedError):  # its message already starts with the original's type name
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def is_retryable(exc: BaseException) -> bool:
    """Retries are for flaky infrastructure. A failed data-quality gate fails the same way every time, and so do
    params or resource settings that are invalid once filled in (a missing environment variable), values that
    fail validation (pydantic's ValidationError) and a component's deterministic failures, which it marks as a
    ``PermanentError`` (a missing folder, a refused path, a missing prompt)."""
    from pydantic import ValidationError

    from flows.execute.gates import GateFailed

    if isinstance(exc, ScrubbedError):
        return exc.retryable
    deterministic = GateFailed | StageParamsError | ParamError | SettingError | PermanentError | ValidationError
    return not isinstance(exc, deterministic)


class Reporter(Protocol):
    def stage_started(self, stage: str, attempt: int) -> None: ...
    def stage_retrying(self, stage: str, attempt: int, error: BaseException, delay: float) -> None: ...
    def stage_finished(self, result: StageResult) -> None: ...


class NullReporter:
    def stage_started(self, stage: str, attempt: int) -> None:
        pass

    def stage_retrying(self, stage: str, attempt: int, error: BaseException, delay: float) -> None:
        pass

    def stage_finished(self, result: StageResult) -> None:
        pass


class ShowsProgress(Protocol):
    """A reporter that also shows the progress of long stages (components.progress). Optional, so reporters
    written without it keep working. Called from the stage's thread as often as its component reports: throttle
    there."""

    def stage_progress(self, stage: str, done: int, total: int | None) -> None: ...


def progress_to(reporter: Reporter, stage: str) -> Callable[[int, int | None], None]:
    """The listener of a stage's progress reports: its reporter's ``stage_progress``, if it has one. A display
    that breaks never fails the stage: progress is a view."""
    show = getattr(reporter, "stage_progress", None)

    def listener(done: int, total: int | None) -> None:
        if show is None:
            return
        try:
            show(stage, done, total)
        except Exception:
            import logging

            logging.getLogger(__name__).debug("progress of stage %s not shown", stage, exc_info=True)

    return listener


@dataclass
class RunContext:
    plan: Plan
    params: dict[str, Any]
    store: ResultStore | None
    reporter: Reporter
    dry_run: bool = False  # `dagwright check`: run checks, but no stage that writes to the outside world
    gate_hook: Any = None  # called with (stage, report) after each gate; the Prefect executor publishes artifacts
    run_id: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex())
    provider: Provider | None = None  # the plan's resources; the process's session when not given
    secrets: Secrets | None = None  # what its messages must never show; read from the plan and params if not given

    def __post_init__(self) -> None:
        if self.provider is None:
            self.provider = provider_for(self.plan)
        if self.secrets is None:
            self.secrets = secrets_of_run(self.plan, self.params)

    @property
    def quarantine_dir(self) -> Path:
        return state_dir(self.plan.project_root) / "quarantine" / self.plan.name / self.run_id


def default_store(plan: Plan) -> ResultStore:
    return ResultStore(state_dir(plan.project_root) / "results")


def gather_inputs(stage: PlannedStage, ctx: RunContext, upstream: Mapping[str, StageResult]) -> dict[str, Any]:
    values = {}
    for port, ref in stage.inputs.items():
        if isinstance(ref, ParamRef):
            values[port] = ctx.params[ref.name]
        elif ref.port in upstream[ref.stage].outputs:
            values[port] = upstream[ref.stage].outputs[ref.port]
        else:  # only a stage that wrote nothing in a dry run has no outputs
            raise RuntimeError(f"stage '{ref.stage}' did not run in this dry run, so '{stage.id}' has no {port}")
    return values


def execute_stage(stage: PlannedStage, ctx: RunContext, upstream: Mapping[str, StageResult], attempt: int = 1):
    """One attempt at one stage. Raises what the component raised; the executor decides about retries."""
    started = time.perf_counter()
    gates: list[Any] = []
    inputs = _gate(stage, ctx, "inputs", gather_inputs(stage, ctx, upstream), gates)
    params = resolve_params(stage.component.Params, stage.with_, ctx.params, where=f"stage '{stage.id}'")
    if ctx.dry_run and stage.component.writes:
        return _result(stage, "checked", {}, inputs, started, attempt, gates)
    from components.progress import listening
    from components.runinfo import for_stage, running

    # Components learn which run they serve (the LLM gateway records it) without importing the engine.
    with listening(progress_to(ctx.reporter, stage.id)), running(for_stage(ctx.plan.name, ctx.run_id, stage.id)):
        status, outputs = _cached_or_run(stage, ctx, params, inputs)
    outputs = _gate(stage, ctx, "outputs", outputs, gates)
    return _result(stage, status, outputs, inputs, started, attempt, gates)


def _cached_or_run(
    stage: PlannedStage, ctx: RunContext, params: ComponentParams, inputs: dict[str, Any]
) -> tuple[Status, dict[str, Any]]:
    provider = ctx.provider
    assert provider is not None  # set in RunContext.__post_init__
    cached_stage = stage.cacheable and stage.component.deterministic(params) and not ctx.dry_run
    store = ctx.store if cached_stage else None
    uses = used_identities(stage.resources, provider)
    key = _key(stage, params, inputs, uses, ctx.plan.project_root) if store is not None else None
    if store is not None and key is not None:
        cached = store.get(key)
        if cached is not MISS:
            return "cached", cached
    component = provider.session.instance(stage.component, params, provider, uses)
    try:
        outputs = split_outputs(stage.ports, _call_run(component, inputs))
    except FailedWithOutputs as exc:  # failed_result() keeps what it has to show, by port
        exc.by_port = split_outputs(stage.ports, exc.outputs)
        raise
    if store is not None and key is not None:
        store.put(key, outputs, pipeline=ctx.plan.name, stage=stage.id)
    return "completed", outputs


def _call_run(component: Component[Any], inputs: dict[str, Any]) -> Any:
    # Each component's run() has its own signature, so the base class declares none (the registry checks it).
    run = getattr(component, "run")  # noqa: B009
    return run(**inputs)


def _gate(stage: PlannedStage, ctx: RunContext, direction: str, values: dict[str, Any], gates: list[Any]):
    """Run the stage's checks on its inputs or outputs (Great Expectations loads only when there are some)."""
    if not any(c.direction == direction for c in stage.checks):
        return values
    from flows.execute.gates import GateFailed, GxValidator, apply_gate

    assert ctx.provider is not None
    validator = ctx.provider.session.keep("great_expectations", GxValidator)
    try:
        values, report = apply_gate(stage, direction, values, ctx.quarantine_dir, validator)
    except GateFailed as failed:
        if ctx.gate_hook:
            ctx.gate_hook(stage, scrub_gate(failed.report, ctx.secrets or Secrets()))
        raise
    # Observations quote the data (`e.g. ['value']`): what the result keeps, reporters show and the hook publishes
    # has the run's secrets masked.
    report = scrub_gate(report, ctx.secrets or Secrets())
    gates.append(report)
    if ctx.gate_hook:
        ctx.gate_hook(stage, report)
    return values


def _key(
    stage: PlannedStage,
    params: ComponentParams,
    inputs: dict[str, Any],
    resources: Mapping[str, str],
    project_root: Path,
) -> str | None:
    """The stage's cache key: its component and params, its inputs' content, the identity (type and settings,
    secrets hashed) of each resource it uses, the source of its module and of the project modules that module
    imports, the files it reads by reference (prompts) and the versions of the libraries it declares."""
    cls = stage.component
    roots = code_roots(project_root)
    code = "".join(code_hash(module, roots) for module in cls.code_modules(params)) + cls.fingerprint(params)
    return cache_key(
        component=cls.name,
        version=cls.version,
        code=code,
        params=params,
        inputs=inputs,
        resources=resources,
        files=files_hash(cls.referenced_files(params, project_root), project_root),
        libraries=library_versions(cls.libraries),
    )


def code_roots(project_root: Path) -> tuple[Path, ...]:
    """Where the modules whose source is part of a key live: the project and dagwright's components package."""
    return (project_root, Path(components.__file__).parent)


def _result(
    stage: PlannedStage, status: Any, outputs: dict, inputs: dict, started: float, attempt: int, gates: list[Any]
) -> StageResult:
    return StageResult(
        stage=stage.id,
        status=status,
        outputs=outputs,
        seconds=seconds_since(started, gates),
        attempts=attempt,
        rows_in=_rows(inputs.values()),
        rows_out=_rows(outputs.values()),
        gates=gates,
    )


def seconds_since(started: float, gates: list[Any]) -> float:
    """A stage's own time: since ``started``, less what its gates spent loading Great Expectations."""
    return time.perf_counter() - started - sum(g.load_seconds for g in gates)


def _rows(values: Any) -> int | None:
    counts = [count_rows(v) for v in values]
    known = [c for c in counts if c is not None]
    return sum(known) if known else None


def count_rows(value: Any) -> int | None:
    """Rows of a list-like or table value (documents, records, a DataFrame); None for scalars, strings, mappings
    and vectors: an embedding's 384 numbers are one value, not 384 rows."""
    if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__len__") or _is_vector(value):
        return None
    try:
        return len(value)
    except TypeError:
        return None


def _is_vector(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return bool(value) and all(isinstance(x, numbers.Number) for x in value)
    # A 1-D numpy array of numbers, recognised without importing numpy; a pandas Series (it has an index) is a
    # column of rows.
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return getattr(value, "ndim", None) == 1 and kind is not None and kind in "biufc" and not hasattr(value, "index")


def call_with_timeout(fn: Any, timeout: float | None, stage: str) -> Any:
    """Run ``fn`` and give up after ``timeout`` seconds. Python cannot kill a thread: a timed-out stage is
    abandoned and its thread finishes in the background (as under Prefect's thread-based timeouts)."""
    if timeout is None:
        return fn()
    box: dict[str, Any] = {}
    # The caller's context variables go along: under Prefect they say which task run logs and artifacts are of.
    context = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = context.run(fn)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"dagwright-stage-{stage}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise StageTimeout(f"stage '{stage}' timed out after {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass
class RunResult:
    pipeline: str
    params: dict[str, Any]
    stages: dict[str, StageResult]
    seconds: float
    error: StageFailed | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def output(self, stage: str, port: str = "output") -> Any:
        return self.stages[stage].outputs[port]

    def raise_for_status(self) -> RunResult:
        if self.error is not None:
            raise self.error
        return self
