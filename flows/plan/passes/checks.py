"""Pass: each stage's data-quality checks, the component's defaults overridden port by port by the stage's own."""

from __future__ import annotations

from typing import Any

from components.base import Ports
from flows.language.load import did_you_mean
from flows.language.spec import Stage, StageChecks
from flows.plan.checks import Check, CheckError, describe_kind, port_kind
from flows.plan.checks import resolve as resolve_check
from flows.plan.passes.context import PlanningContext


def resolve_checks(ctx: PlanningContext) -> None:
    for sid, stage in ctx.pipeline.stages.items():
        if ctx.plannable(sid):  # a stage with broken inputs or params has its checks looked at once those are fixed
            ctx.checks[sid] = _stage_checks(ctx, sid, stage, ctx.ports[sid])


def _stage_checks(ctx: PlanningContext, sid: str, stage: Stage, ports: Ports) -> tuple[Check, ...]:
    if stage.checks is False:
        return ()
    spec = stage.checks if isinstance(stage.checks, StageChecks) else StageChecks()
    found: list[Check] = []
    for direction in ("inputs", "outputs"):
        declared = getattr(spec, direction)
        defaults = ctx.components[sid].default_checks.get(direction, {}) if spec.defaults else {}
        for port, items in {**defaults, **declared}.items():
            where = ("stages", sid, "checks", direction, port) if port in declared else ("stages", sid, "uses")
            found += _port_checks(ctx, direction, port, items, getattr(ports, direction), where)
    return tuple(found)


def _port_checks(
    ctx: PlanningContext, direction: str, port: str, items: list[Any], known: Any, where: tuple
) -> list[Check]:
    if port not in known:
        names = list(known)
        ctx.report(
            ctx.at(*where),
            f"no {direction[:-1]} port '{port}'{did_you_mean(port, names)}; {direction} are {names}",
            key=True,
        )
        return []
    kind = port_kind(known[port].type) or describe_kind(known[port].type)
    checks = []
    for i, item in enumerate(items):
        try:
            checks.append(resolve_check(direction, port, kind, item))
        except CheckError as exc:
            ctx.report(ctx.at(*where, i) if where[2] == "checks" else ctx.at(*where), str(exc))
    return checks
