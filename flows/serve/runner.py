"""One pipeline run for one request: in a worker thread on the in-process executor, with the app's session, a
deadline, the caller marked for the LLM gateway (its records and budgets see the endpoint, organisation and key),
and failures turned into problems (a provider that failed is a 502/503, a budget spent a 429, a deadline a 504)."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from components.runinfo import RunInfo, running
from flows.errors import ParamError
from flows.execute.local import run_local
from flows.execute.outputs import final_outputs, output_data, scrub_data
from flows.execute.runtime import RunResult
from flows.execute.secrets import secrets_of_run
from flows.execute.session import Session
from flows.plan.planner import Plan
from flows.serve.problems import ProblemError

log = logging.getLogger("dagwright.serve")
# Exception classes (by name, so openai is not imported here) that mean the model provider failed.
_UNAVAILABLE = {"APIConnectionError", "APITimeoutError", "ResourceError", "ConnectionError"}
_BAD_GATEWAY = {"APIStatusError", "APIError", "RateLimitError", "InternalServerError"}
# The LLM gateway's refusals (components/gateway/errors.py): their messages name sizes, limits and providers,
# never a key, so the caller is told them (masked all the same).
_GATEWAY = {
    "ContextWindowExceeded": (422, "context_window_exceeded"),
    "BudgetExceeded": (429, "budget_exceeded"),
    "ProvidersFailed": (503, "providers_failed"),
    "StreamInterrupted": (502, "stream_interrupted"),  # tokens were sent: no retry, no fallback (tokens.py)
}


@dataclass(frozen=True)
class Served:
    plan: Plan
    result: RunResult
    outputs: dict[str, Any]  # `stage.port` -> the output's value
    run_id: str

    def data(self) -> dict[str, Any]:
        secrets = secrets_of_run(self.plan, self.result.params)
        outputs = {label: output_data(v) for label, v in self.outputs.items()}
        body = {"pipeline": self.plan.name, "run_id": self.run_id, "seconds": round(self.result.seconds, 4)}
        return scrub_data(body | {"outputs": outputs}, secrets)

    def cache(self) -> str:
        """How the answer was made: `result_cache` when every stage came from the engine's result cache, else
        what the answer says (`exact_cache` or `semantic_cache` when the LLM gateway answered from a cache), else
        `model`."""
        if {r.status for r in self.result.stages.values()} == {"cached"}:
            return "result_cache"
        said = [getattr(v, "served_by", None) for v in self.outputs.values()]
        return next((s for s in said if isinstance(s, str)), "model")


def asked_by(endpoint: str, org: str, key_id: str) -> RunInfo:
    """Who asked, as the run's stages (and the LLM gateway below them) see it."""
    return RunInfo(endpoint=endpoint, org=org, key_id=key_id)


async def run_pipeline(
    plan: Plan,
    params: Mapping[str, Any],
    session: Session,
    timeout: float,
    who: RunInfo,
    in_thread: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> Served:
    """Run ``plan`` for ``who``; ``in_thread`` wraps the run in the worker thread (the token listener of a
    stream)."""
    bound = bind(plan, params)
    call = functools.partial(_run, plan, bound, session, who, in_thread)
    try:
        return await asyncio.wait_for(asyncio.to_thread(call), timeout)
    except TimeoutError:
        # The worker thread cannot be stopped; it finishes in the background and its result is dropped.
        raise ProblemError(504, "timeout", f"the pipeline did not finish within {timeout:g} s") from None


def bind(plan: Plan, params: Mapping[str, Any]) -> dict[str, Any]:
    """The run's params, or a 422: the engine's own rules (a blank string under `min_length`) beyond the schema's."""
    try:
        return plan.bind_params(params)
    except ParamError as exc:
        raise ProblemError(422, "invalid_params", str(exc)) from None


def _run(
    plan: Plan,
    bound: dict[str, Any],
    session: Session,
    who: RunInfo,
    in_thread: Callable[[], AbstractContextManager[Any]],
) -> Served:
    # The response's run_id is the engine's: `dagwright usage` shows the gateway's records under it.
    run_id = time.strftime("%Y%m%d-%H%M%S-") + os.urandom(4).hex()
    with running(who), in_thread():  # the engine copies both contexts into each stage's thread
        result = run_local(plan, bound, session=session, run_id=run_id)
    if not result.ok:
        problem = failure_problem(plan, result)
        # The operator's log gets the stage's reason (secrets masked by the runtime); the response does not.
        if problem.code == "client_closed":
            log.info("run %s of %s cancelled: the client went away", run_id, plan.name)
        else:
            log.warning("run %s of %s failed: %s", run_id, plan.name, result.error)
        raise problem
    outputs = {o.label: o.value for o in final_outputs(plan, result)}
    return Served(plan, result, outputs, run_id)


def failure_problem(plan: Plan, result: RunResult) -> ProblemError:
    """The problem for a failed run: its failed stage is named, its exception's text is not (it may quote a
    prompt or a connection string)."""
    error = result.error
    stage = error.stage if error is not None else "?"
    exc = result.stages[stage].exception if stage in result.stages else None
    names = {c.__name__ for c in type(exc).__mro__} if exc is not None else set()
    if "StreamClosed" in names:  # components/tokens.py: nobody reads the stream any more
        return ProblemError(499, "client_closed", f"stage '{stage}': the client went away; generation stopped")
    if names & _GATEWAY.keys():
        return _gateway_problem(plan, result, stage, exc, names)
    if names & _UNAVAILABLE:
        return ProblemError(503, "provider_unavailable", f"stage '{stage}': the model provider is unreachable")
    if names & _BAD_GATEWAY:
        return ProblemError(502, "provider_error", f"stage '{stage}': the model provider answered with an error")
    if "StageTimeout" in names:
        return ProblemError(504, "stage_timeout", f"stage '{stage}' timed out")
    if "InputError" in names:  # components/base.py: the caller's own inputs are wrong, and may be told why
        detail = secrets_of_run(plan, result.params).scrub(f"stage '{stage}': {exc}")
        return ProblemError(422, "invalid_input", detail, stage=stage)
    if "GateFailed" in names:
        return ProblemError(422, "check_failed", f"stage '{stage}': a data-quality check failed", stage=stage)
    return ProblemError(500, "pipeline_failed", f"pipeline '{plan.name}' failed at stage '{stage}'", stage=stage)


def _gateway_problem(plan: Plan, result: RunResult, stage: str, exc: Any, names: set[str]) -> ProblemError:
    status, code = next(_GATEWAY[n] for n in _GATEWAY if n in names)
    detail = secrets_of_run(plan, result.params).scrub(f"stage '{stage}': {exc}")
    headers = {"Retry-After": str(_seconds_to_utc_midnight())} if status == 429 else {}  # daily budgets reset then
    return ProblemError(status, code, detail, headers, stage=stage)


def _seconds_to_utc_midnight() -> int:
    return 86400 - int(time.time()) % 86400
