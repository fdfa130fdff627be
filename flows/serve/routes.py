"""`/v1/pipelines/{name}/run` (JSON) and `/stream` (Server-Sent Events), one typed route pair per pipeline."""

# No `from __future__ import annotations`: FastAPI reads the routes' hints, and Params is local.
import json
import time
from collections.abc import AsyncIterator
from enum import Enum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from components.runinfo import RunInfo
from flows.language.load import did_you_mean
from flows.plan.planner import Plan
from flows.serve.access import Authed, allow_pipeline, check_question
from flows.serve.auth import Caller
from flows.serve.models import request_model, response_model
from flows.serve.problems import ProblemError
from flows.serve.runner import asked_by, bind, run_pipeline
from flows.serve.streaming import answer_of, run_streaming

# One Server-Sent Event, as OpenAPI 3.2 describes a stream: its `data` is JSON text.
EVENT_SCHEMA = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"enum": ["token", "done", "error"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}
SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": 'Server-Sent Events: `token` events ({"text"}), then one `done` event (answer, sources, '
        "usage, cache, model, run_id) or one `error` event (a problem).",
        "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
    }
}


def add_pipeline_routes(app: FastAPI, plan: Plan) -> None:
    Params, Reply = request_model(plan), response_model(plan)  # classes
    name, doc = plan.name, plan.pipeline.description

    async def run(request: Request, body: Params, caller: Authed) -> Any:  # type: ignore[valid-type]
        state, params = _admit(request, name, caller, body)
        started, who = time.perf_counter(), asked_by(request.url.path, caller.org, caller.key_id)
        served = await run_pipeline(plan, params, state.session, state.settings.timeout, who)
        state.metrics.answered(name, "run", 200, time.perf_counter() - started)
        state.metrics.served(name, served.cache())
        return served.data()

    async def stream(request: Request, body: Params, caller: Authed) -> StreamingResponse:  # type: ignore[valid-type]
        state, params = _admit(request, name, caller, body)
        bind(plan, params)  # a bad param is a 422 here, not an error event after a 200
        who = asked_by(request.url.path, caller.org, caller.key_id)
        events = _events(state, plan, params, who)
        return StreamingResponse(events, media_type="text/event-stream", headers=_NO_BUFFER)

    tags: list[str | Enum] = [name]
    app.post(f"/v1/pipelines/{name}/run", response_model=Reply, tags=tags, summary=f"Run {name}", description=doc)(run)
    app.post(f"/v1/pipelines/{name}/stream", tags=tags, summary=f"Run {name}, streaming", responses=SSE_DOC)(stream)


_NO_BUFFER = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # proxies must pass events on at once


def _admit(request: Request, name: str, caller: Caller, body: BaseModel) -> tuple[Any, dict[str, Any]]:
    state = request.app.state.serve
    allow_pipeline(caller, name, state.settings.org_pipelines)
    params = body.model_dump(exclude_unset=True)
    check_question(params, state.settings.max_question_chars)
    return state, params


async def _events(state: Any, plan: Plan, params: dict[str, Any], who: RunInfo) -> AsyncIterator[bytes]:
    started = time.perf_counter()
    gone = lambda: state.metrics.abandoned(plan.name, "stream", time.perf_counter() - started)  # noqa: E731
    async for kind, value in run_streaming(plan, params, state.session, state.settings.timeout, who, gone):
        if kind == "token":
            yield sse("token", {"text": value})
        elif kind == "error":
            state.metrics.failed(plan.name, value.code)
            yield sse("error", value.body())
        else:
            answer, cache = answer_of(value), value.cache()
            state.metrics.answered(plan.name, "stream", 200, time.perf_counter() - started)
            state.metrics.served(plan.name, cache)
            yield sse("done", answer | {"cache": cache, "run_id": value.run_id})


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


def add_unknown_pipeline_routes(app: FastAPI) -> None:
    """A 404 naming the served pipelines for any other name (after the typed routes, which match first)."""

    async def unknown(request: Request, name: str) -> None:
        served = request.app.state.serve.plans
        known = ", ".join(sorted(served)) or "(none: mark a pipeline `serve: true`)"
        detail = f"no served pipeline '{name}'{did_you_mean(name, served)}; served pipelines are: {known}"
        raise ProblemError(404, "pipeline_not_found", detail)

    for action in ("run", "stream"):
        app.post(f"/v1/pipelines/{{name}}/{action}", include_in_schema=False)(unknown)
