"""Pass: the files a stage's params name (a prompt template) exist and fit the component, reported at
`validate` time with the param's position rather than when a run reaches the stage.

Components take part by declaring the `FilesChecked` hook of components.base."""

from __future__ import annotations

from components.base import FilesChecked
from flows.plan.passes.context import PlanningContext


def check_referenced_files(ctx: PlanningContext) -> None:
    for sid, cls in ctx.components.items():
        if not issubclass(cls, FilesChecked) or sid not in ctx.params_of:
            continue
        for param, problem in cls.check_files(ctx.params_of[sid], ctx.project.root):
            ctx.report(ctx.at("stages", sid, "with", param), f"{ctx.pipeline.stages[sid].uses}: {problem}")
