"""Pass: find each stage's component in the registry (a registered name, an alias, or an allowed
`haystack:` class path)."""

from __future__ import annotations

from flows.errors import RegistryError
from flows.plan.passes.context import PlanningContext


def resolve_components(ctx: PlanningContext) -> None:
    for sid, stage in ctx.pipeline.stages.items():
        try:
            ctx.components[sid] = ctx.registry.resolve(stage.uses)
        except RegistryError as exc:
            ctx.report(ctx.at("stages", sid, "uses"), str(exc))
