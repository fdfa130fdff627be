"""The FastAPI app of `dagwright serve`: routes for each served pipeline, the chat endpoint, health and metrics.

The app owns one Session (the open resources and warmed component instances), opened in its lifespan and shared
by every request; closing the app closes it. Requests run on the in-process executor in worker threads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from flows.execute.session import Session
from flows.plan.planner import Plan
from flows.serve import chat, problems, routes
from flows.serve.access import BodyLimit
from flows.serve.auth import KeyRing
from flows.serve.metrics import Metrics
from flows.serve.problems import ProblemError
from flows.serve.ratelimit import RateLimiter, counter_for
from flows.serve.settings import ServeSettings


@dataclass
class ServeState:
    plans: dict[str, Plan]
    settings: ServeSettings
    keys: KeyRing
    limiter: RateLimiter
    metrics: Metrics = field(default_factory=Metrics)
    session: Session = field(default_factory=Session)
    open_error: str | None = None
    resources: dict[str, Any] = field(default_factory=dict)  # name -> the open resource, for metrics


def served_plans(plans: dict[str, Plan]) -> dict[str, Plan]:
    return {name: plan for name, plan in plans.items() if plan.pipeline.serve is not None}


def create_app(plans: dict[str, Plan], settings: ServeSettings | None = None) -> FastAPI:
    """An app serving those of ``plans`` marked `serve:`."""
    settings = settings or ServeSettings.from_env()
    served = served_plans(plans)
    limiter = RateLimiter(counter_for(settings.redis_url), settings.key_rate, settings.org_rate)
    state = ServeState(served, settings, KeyRing.from_settings(settings), limiter)
    state.metrics.watch_breakers(lambda: _breakers(state))
    app = FastAPI(
        title="dagwright",
        description="The pipelines of this project marked `serve:`; errors are RFC 9457 problem details.",
        version="1",
        lifespan=_lifespan,
        responses={"default": problems.DEFAULT_RESPONSE},  # FastAPI then adds no 422 of its own shape
    )
    app.state.serve = state
    problems.install(app)
    _health_routes(app, state)
    for plan in served.values():
        routes.add_pipeline_routes(app, plan)
    routes.add_unknown_pipeline_routes(app)
    chat.add_chat_routes(app)
    if settings.cors_origins:  # off unless origins are named: a browser page elsewhere cannot call with a key
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"])
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServeState = app.state.serve
    # Opened here, in the thread that lives as long as the app, before the first request: the embedded model
    # server dies with the thread that started it (PR_SET_PDEATHSIG is per thread), so a short-lived opener
    # thread left the app with a dead model server (found by tests/integration/test_serve.py).
    _open_resources(state)
    try:
        yield
    finally:
        state.session.close()
        await state.limiter.counter.close()


def _open_resources(state: ServeState) -> None:
    try:
        for plan in state.plans.values():
            for name, planned in plan.resources.items():
                state.resources[name] = state.session.resource(planned, plan.project_root)
    except Exception as exc:  # reported by /readyz; the message names the resource, never its secrets
        state.open_error = str(exc)
    for resource in {id(r): r for r in state.resources.values()}.values():  # once each, however many plans use it
        if callable(getattr(resource, "observe", None)):  # an LLM gateway: its calls feed the LLM metrics
            resource.observe(state.metrics.llm_call)


def _breakers(state: ServeState) -> dict[str, dict[str, dict[str, Any]]]:
    """The LLM gateways' circuit breakers (resources that have `breakers()`)."""
    return {n: r.breakers() for n, r in list(state.resources.items()) if callable(getattr(r, "breakers", None))}


def _health_routes(app: FastAPI, state: ServeState) -> None:
    @app.get("/healthz", tags=["health"], summary="The process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="The served pipelines' resources are open")
    async def readyz() -> JSONResponse:
        if state.open_error is not None:
            raise ProblemError(503, "resource_failed", state.open_error)
        return JSONResponse({"status": "ready", "pipelines": sorted(state.plans)})

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(state.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/pipelines", tags=["pipelines"], summary="The served pipelines")
    async def pipelines() -> dict[str, Any]:
        return {"pipelines": [_listing(p) for p in state.plans.values()]}


def _listing(plan: Plan) -> dict[str, Any]:
    serve = plan.pipeline.serve
    params = {n: p.model_dump(exclude_defaults=True) for n, p in plan.pipeline.params.items() if not p.secret}
    return {
        "name": plan.name,
        "description": plan.pipeline.description,
        "chat": bool(serve and serve.chat),
        "params": params,
    }
