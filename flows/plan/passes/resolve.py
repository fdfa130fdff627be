"""Pass: find each stage's component in the registry."""

from __future__ import annotations

from flows.language.load import did_you_mean
from flows.plan.passes.context import PlanningContext


def resolve_components(ctx: PlanningContext) -> None:
    for sid, stage in ctx.pipeline.stages.items():
        cls = ctx.registry.get(stage.uses)
        if cls is not None:
            ctx.components[sid] = cls
            continue
        hint = did_you_mean(stage.uses, ctx.registry.names())
        ctx.report(
            ctx.at("stages", sid, "uses"),
            f"unknown component '{stage.uses}'{hint}; `dagwright components` lists those available",
        )
