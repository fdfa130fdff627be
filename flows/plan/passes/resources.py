"""Pass: every resource a stage names exists, under every profile, and is of the kind its param needs."""

from __future__ import annotations

from flows.plan.passes.context import PlanningContext
from flows.plan.resources import check_stage_resources


def check_resources(ctx: PlanningContext) -> None:
    for sid, stage in ctx.pipeline.stages.items():
        if ctx.plannable(sid):
            where = ctx.at("stages", sid)
            uses, problems = check_stage_resources(ctx.components[sid], stage, where, ctx.every_profile, ctx.locator)
            ctx.resource_uses[sid] = uses
            ctx.problems += problems
