"""Who may call, how often and how much: API keys, rate limits, body size, question length."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.exceptions import HTTPException
from starlette.requests import Request

from flows.serve.auth import Caller, presented_key
from flows.serve.problems import MEDIA_TYPE, ProblemError, problem_body


async def caller_of(request: Request) -> Caller:
    """Authenticate, then count the request against the key's and the organisation's limits."""
    state = request.app.state.serve
    key = presented_key(request.headers.get("authorization"), request.headers.get("x-api-key"))
    caller = state.keys.caller(key, request.client.host if request.client else "")
    await state.limiter.check(caller.key_id, caller.org)
    return caller


def allow_pipeline(caller: Caller, pipeline: str, allowed: dict[str, set[str]]) -> None:
    """A 403 when the caller's organisation is limited to other pipelines (DAGWRIGHT_ORG_PIPELINES)."""
    scope = allowed.get(caller.org)
    if scope is not None and pipeline not in scope and "*" not in scope:
        raise ProblemError(403, "pipeline_forbidden", f"organisation '{caller.org}' may not call '{pipeline}'")


def check_question(params: dict[str, Any], limit: int) -> None:
    question = params.get("question")
    if isinstance(question, str) and len(question) > limit:
        raise ProblemError(413, "question_too_long", f"the question has {len(question)} characters; at most {limit}")


class BodyLimit:
    """ASGI middleware: a 413 for a body over ``limit`` bytes, by its Content-Length or as it streams in, before
    anything parses it."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await self._refuse(scope, send)
        seen = 0

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge(413, f"the request body is over {self.limit} bytes")
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, send)

    async def _refuse(self, scope: dict[str, Any], send: Any) -> None:
        import json

        detail = f"the request body is over {self.limit} bytes"
        body = json.dumps(problem_body(413, "body_too_large", detail, scope.get("path", ""))).encode()
        headers = [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(HTTPException):
    """An HTTPException, as FastAPI turns any other error raised while it reads a body into a 400."""


Authed = Annotated[Caller, Depends(caller_of)]  # a route's caller, authenticated and counted
