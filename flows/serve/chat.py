"""`POST /v1/chat/completions` and `GET /v1/models`, OpenAI-compatible, so the official `openai` client (and
anything built on it) talks to a chat pipeline unchanged: `model` names the pipeline, the last user message is its
`question`.

`max_tokens` and `temperature` do what an OpenAI client expects of them, for this request only: they set the
pipeline's params of those names when it declares them (the pipeline then says where they go, within its bounds);
otherwise they go to its generators, the stages that call an LLM provider, where `temperature` replaces the
stage's and `max_tokens` may shorten the reply but never lengthen it past the stage's own (the operator's ceiling,
which budgets reserve against). `top_k` (not OpenAI's; send it in `extra_body`) only reaches a param `top_k`."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from components.runinfo import RunInfo
from flows.language.load import did_you_mean
from flows.plan.planner import Plan, PlannedStage
from flows.serve.access import Authed, allow_pipeline, check_question
from flows.serve.problems import ProblemError
from flows.serve.runner import Served, asked_by, bind, run_pipeline
from flows.serve.streaming import answer_of, run_streaming

PASSED_ON = ("max_tokens", "temperature", "top_k")  # request fields given to params of the same name
TO_GENERATORS = ("max_tokens", "temperature")  # else given to the generator stages' params of the same name


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_call_id...: accepted, not used
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat request that a pipeline can honour; other fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(description="The chat pipeline's name (GET /v1/models lists them).")
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=32768)
    temperature: float | None = Field(None, ge=0, le=2)
    top_k: int | None = Field(None, ge=1, le=1000, description="Not OpenAI's: only a pipeline param `top_k`.")


CHAT_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A chat.completion object; with `stream: true`, chat.completion.chunk objects as `data:` "
        "events ending with `data: [DONE]`.",
        "content": {
            "application/json": {"schema": {"type": "object", "required": ["id", "object", "choices"]}},
            "text/event-stream": {"schema": {"type": "object", "properties": {"data": {"type": "string"}}}},
        },
    }
}


def add_chat_routes(app: FastAPI) -> None:
    @app.get("/v1/models", tags=["openai"], summary="The chat pipelines, as OpenAI models")
    async def models(request: Request, caller: Authed) -> dict[str, Any]:
        chats = [p for p in request.app.state.serve.plans.values() if p.pipeline.serve.chat]
        return {"object": "list", "data": [{"id": p.name, "object": "model", "owned_by": "dagwright"} for p in chats]}

    @app.post(
        "/v1/chat/completions",
        tags=["openai"],
        summary="OpenAI-compatible chat over a chat pipeline",
        responses=CHAT_DOC,
    )
    async def completions(request: Request, body: ChatRequest, caller: Authed) -> Any:
        state = request.app.state.serve
        plan = _chat_plan(state.plans, body.model)
        allow_pipeline(caller, plan.name, state.settings.org_pipelines)
        params = _params(plan, body)
        check_question(params, state.settings.max_question_chars)
        plan, who = for_request(plan, body), asked_by(request.url.path, caller.org, caller.key_id)
        if body.stream:
            bind(plan, params)
            return StreamingResponse(_chunks(state, plan, params, who), media_type="text/event-stream")
        started = time.perf_counter()
        served = await run_pipeline(plan, params, state.session, state.settings.timeout, who)
        state.metrics.answered(plan.name, "chat", 200, time.perf_counter() - started)
        state.metrics.served(plan.name, served.cache())
        return completion(served)


def _chat_plan(plans: dict[str, Plan], model: str) -> Plan:
    chats = {n: p for n, p in plans.items() if p.pipeline.serve is not None and p.pipeline.serve.chat}
    if model not in chats:
        known = ", ".join(sorted(chats)) or "(none: mark a pipeline `serve: {chat: true}`)"
        raise ProblemError(
            404, "model_not_found", f"no chat pipeline '{model}'{did_you_mean(model, chats)}; models are: {known}"
        )
    return chats[model]


def _params(plan: Plan, body: ChatRequest) -> dict[str, Any]:
    users = [m for m in body.messages if m.role == "user"]
    if not users:
        raise ProblemError(400, "no_user_message", "the messages hold no user message to answer")
    params: dict[str, Any] = {"question": _text(users[-1].content)}
    given = body.model_dump()
    for name in PASSED_ON:
        if name in plan.pipeline.params and given.get(name) is not None:
            params[name] = given[name]
    return params


def for_request(plan: Plan, body: ChatRequest) -> Plan:
    """``plan`` with the request's `max_tokens` and `temperature` on its generator stages, when it declares no
    param of that name; the plan itself when nothing changes."""
    given = {n: getattr(body, n) for n in TO_GENERATORS if getattr(body, n) is not None}
    given = {n: v for n, v in given.items() if n not in plan.pipeline.params}
    if not given:
        return plan
    stages = tuple(_generator_told(stage, given, plan) for stage in plan.stages)
    return dataclasses.replace(plan, stages=stages)


def _generator_told(stage: PlannedStage, given: dict[str, Any], plan: Plan) -> PlannedStage:
    from components.generators import LlmProvider

    fields = stage.component.Params.model_fields
    calls_llm = any(r in plan.resources and issubclass(plan.resources[r].type, LlmProvider) for _, r in stage.resources)
    told = {n: v for n, v in given.items() if n in fields} if calls_llm else {}
    if not told:
        return stage
    if "max_tokens" in told:  # a ceiling written in the YAML (or the field's default) holds; a placeholder does not
        own = stage.with_.get("max_tokens", fields["max_tokens"].default)
        told["max_tokens"] = min(told["max_tokens"], own) if isinstance(own, int) else told["max_tokens"]
    return dataclasses.replace(stage, with_={**stage.with_, **told})


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):  # content parts: only the text ones mean anything to a pipeline
        return "".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
    return content or ""


def completion(served: Served) -> dict[str, Any]:
    answer = answer_of(served)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": served.plan.name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer["text"]}, "finish_reason": "stop"}],
        "usage": _usage(answer["usage"]),
        "dagwright": {
            "sources": answer["sources"],
            "cache": served.cache(),
            "model": answer["model"],
            "run_id": served.run_id,
        },
    }


def _usage(usage: dict[str, int]) -> dict[str, int]:
    prompt, done = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}


async def _chunks(state: Any, plan: Plan, params: dict[str, Any], who: RunInfo) -> AsyncIterator[bytes]:
    """OpenAI's stream: `chat.completion.chunk` objects as `data:` lines, the last with finish_reason and usage,
    then `data: [DONE]`. A failure mid-stream is an `error` object, as OpenAI sends it."""
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": plan.name}
        body |= {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, default=str)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    started = time.perf_counter()
    gone = lambda: state.metrics.abandoned(plan.name, "chat", time.perf_counter() - started)  # noqa: E731
    async for kind, value in run_streaming(plan, params, state.session, state.settings.timeout, who, gone):
        if kind == "token":
            yield chunk({"content": value})
        elif kind == "error":
            state.metrics.failed(plan.name, value.code)
            yield f"data: {json.dumps({'error': value.body()})}\n\n".encode()
        else:
            answer = answer_of(value)
            state.metrics.answered(plan.name, "chat", 200, time.perf_counter() - started)
            state.metrics.served(plan.name, value.cache())
            yield chunk({}, "stop", usage=_usage(answer["usage"]))
    yield b"data: [DONE]\n\n"
