"""Pass: the pipeline's param defaults, each stage's `with` (placeholders included), and the ports they give."""

from __future__ import annotations

from components.base import Component, ComponentError, ComponentParams
from flows.errors import ParamError
from flows.language import params as run_params
from flows.language.refs import ParamRef, RefError, placeholders, walk_strings
from flows.language.spec import Stage
from flows.plan.passes.context import PlanningContext
from flows.plan.stageparams import trial_params


def check_params(ctx: PlanningContext) -> None:
    _check_param_defaults(ctx)
    for sid, cls in ctx.components.items():
        _resolve_ports(ctx, sid, ctx.pipeline.stages[sid], cls)


def _check_param_defaults(ctx: PlanningContext) -> None:
    for pname, param in ctx.pipeline.params.items():
        if not param.required and param.default is not None:
            try:
                run_params.coerce(ctx.name, pname, param, param.default)
            except ParamError as exc:
                ctx.report(ctx.at("params", pname, "default"), str(exc).split(": ", 1)[-1])


def _resolve_ports(ctx: PlanningContext, sid: str, stage: Stage, cls: type[Component]) -> None:
    params = _check_with(ctx, sid, stage, cls)
    if params is None:
        if cls.has_static_ports():  # edges can still be checked while the params are wrong
            ctx.ports[sid] = cls.ports(cls.Params.model_construct())
        return
    ctx.params_of[sid] = params
    try:
        ctx.ports[sid] = cls.ports(params)
    except ComponentError as exc:
        ctx.report(ctx.at("stages", sid, "with"), str(exc))


def _check_with(ctx: PlanningContext, sid: str, stage: Stage, cls: type[Component]) -> ComponentParams | None:
    ok = _check_placeholders(ctx, sid, stage)
    trial = trial_params(cls.Params, stage.with_, ctx.pipeline.params)
    for loc, message in trial.errors:
        ctx.report(ctx.at("stages", sid, "with", *loc), message, key=message.startswith("unknown key"))
    return trial.params if ok and not trial.errors else None


def _check_placeholders(ctx: PlanningContext, sid: str, stage: Stage) -> bool:
    ok = True
    for path, text in walk_strings(stage.with_):
        try:
            refs = list(placeholders(text))
        except RefError as exc:
            ctx.report(ctx.at("stages", sid, "with", *path), str(exc))
            ok = False
            continue
        for ref in refs:
            if isinstance(ref, ParamRef) and ref.name not in ctx.pipeline.params:
                ctx.report(ctx.at("stages", sid, "with", *path), ctx.unknown_param(ref.name))
                ok = False
    return ok
