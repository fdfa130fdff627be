"""Pass: cap a chunker's chunk size at the token window of the embedders it feeds, and say so in a note.

Components take part by declaring the hooks of components.base: `TokenWindowed` (embedders) and
`WindowFitted` (chunkers)."""

from __future__ import annotations

from components.base import TokenWindowed, WindowFitted
from flows.language.refs import StageRef
from flows.plan.passes.context import PlanningContext


def fit_token_windows(ctx: PlanningContext) -> None:
    for sid in ctx.order or ():  # no order, no plan: nothing to fit
        cls = ctx.components.get(sid)
        if cls is None or not issubclass(cls, WindowFitted) or sid not in ctx.params_of:
            continue
        limit = _smallest_window_fed_by(ctx, sid)
        change = cls.fit_to_window(ctx.params_of[sid], *limit) if limit else None
        if change:
            updates, note = change
            ctx.note(ctx.at("stages", sid, "with"), note)
            ctx.with_updates[sid] = {**ctx.with_updates.get(sid, {}), **updates}


def _smallest_window_fed_by(ctx: PlanningContext, sid: str) -> tuple[int, str] | None:
    """(tokens, component) of the smallest token window among the stages that take ``sid``'s output."""
    settings = {n: (r.type, r.settings) for n, r in ctx.resources.items() if r.settings is not None}
    windows = []
    for consumer, refs in ctx.inputs.items():
        cls = ctx.components.get(consumer)
        if cls is None or not issubclass(cls, TokenWindowed) or consumer not in ctx.params_of:
            continue
        if any(isinstance(r, StageRef) and r.stage == sid for r in refs.values()):
            window = cls.token_window(ctx.params_of[consumer], settings)
            if window is not None:  # a model whose window is unknown until it runs
                windows.append((window, ctx.pipeline.stages[consumer].uses))
    return min(windows) if windows else None
