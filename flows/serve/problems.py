"""Errors as JSON problem details (RFC 9457), each with a stable `code` that clients may switch on.

Every error response goes through here, so none carries a traceback or an exception's text that could quote a
secret: the detail is written by us, and a stage's own message only after the run's secrets are masked.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

log = logging.getLogger("dagwright.serve")
MEDIA_TYPE = "application/problem+json"
OPENAI_PATHS = ("/v1/chat/", "/v1/models")
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    499: "Client Closed Request",  # nginx's: logged and counted, never sent (nobody is left to read it)
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# The schema of every error response, for the OpenAPI spec (as the `default` response of every route).
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "Stable: clients may switch on it."},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
DEFAULT_RESPONSE = {"description": "A problem (RFC 9457)", "content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}


class ProblemError(Exception):
    """Raised anywhere in a request to answer with this problem."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers, self.extra = status, code, detail, headers or {}, extra

    def body(self, instance: str = "") -> dict[str, Any]:
        return problem_body(self.status, self.code, self.detail, instance, **self.extra)


def problem_body(status: int, code: str, detail: str, instance: str = "", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": f"https://dagwright.dev/problems/{code}", "title": TITLES.get(status, "Error")}
    body |= {"status": status, "code": code, "detail": detail}
    if instance:
        body["instance"] = instance
    return body | extra


def problem_response(problem: ProblemError, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else ""
    if request is not None:
        request.app.state.serve.metrics.failed(pipeline_label(request), problem.code)
    body = problem.body(instance)
    if instance.startswith(OPENAI_PATHS):  # OpenAI's clients read the message from `error`; an extension member
        body["error"] = {"message": problem.detail, "type": problem.code, "code": problem.code}
    return JSONResponse(body, problem.status, problem.headers, media_type=MEDIA_TYPE)


def install(app: Any) -> None:
    """Answer every error the app can raise as a problem."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc, request)

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [_error(e) for e in exc.errors()]
        return problem_response(ProblemError(422, "invalid_request", _summary(errors), errors=errors), request)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "body_too_large"}.get(
            exc.status_code, "http_error"
        )
        headers = dict(exc.headers or {})  # a 405's Allow header (RFC 9110)
        return problem_response(ProblemError(exc.status_code, code, str(exc.detail), headers), request)

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)  # the traceback goes to the log, never out
        return problem_response(ProblemError(500, "internal_error", "the server failed; see its log"), request)

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)


def _error(error: Any) -> dict[str, Any]:
    # The input is left out: it may be the whole body, secrets included.
    return {"loc": [str(p) for p in error.get("loc", ())], "msg": str(error.get("msg", "")), "type": error.get("type")}


def _summary(errors: list[dict[str, Any]]) -> str:
    shown = [f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:3]]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(shown) + more


def pipeline_label(request: Request) -> str:
    """The metrics label of a request's pipeline: a served pipeline's name, else a fixed word, so callers cannot
    grow the label set with made-up names."""
    parts = request.url.path.split("/")
    if len(parts) > 3 and parts[1:3] == ["v1", "pipelines"] and parts[3] in request.app.state.serve.plans:
        return parts[3]
    return "chat" if request.url.path.startswith("/v1/chat/") else "none"
