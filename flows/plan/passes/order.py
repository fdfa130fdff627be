"""Pass: a topological order of the stages (file order among equals), or the cycle that prevents one."""

from __future__ import annotations

from flows.language.refs import RefError, StageRef, parse_input
from flows.plan.passes.context import PlanningContext


def order_stages(ctx: PlanningContext) -> None:
    edges = _edges(ctx)
    order: list[str] = []
    state: dict[str, str] = {}
    for sid in ctx.pipeline.stages:
        cycle = _visit(sid, edges, state, order, [])
        if cycle:
            # _visit walks from a stage to what it needs; data flows the other way, so show it reversed.
            flow = list(reversed(cycle))
            ctx.report(ctx.at("stages", flow[0]), f"cycle: {' -> '.join(flow)}")
            return
    ctx.order = order


def _edges(ctx: PlanningContext) -> dict[str, list[str]]:
    """What each stage waits for; refs that do not parse or name no other stage are reported by the edges pass."""
    stages = ctx.pipeline.stages
    edges: dict[str, list[str]] = {}
    for sid, stage in stages.items():
        deps = [s for s in stage.after if s in stages]
        for text in stage.inputs.values():
            try:
                ref = parse_input(text)
            except RefError:
                continue
            if isinstance(ref, StageRef) and ref.stage in stages and ref.stage != sid:
                deps.append(ref.stage)
        edges[sid] = sorted(set(deps))
    return edges


def _visit(sid: str, edges: dict[str, list[str]], state: dict[str, str], order: list[str], path: list[str]):
    if state.get(sid) == "done":
        return None
    if state.get(sid) == "active":
        return [*path[path.index(sid) :], sid]
    state[sid] = "active"
    for dep in edges[sid]:
        cycle = _visit(dep, edges, state, order, [*path, sid])
        if cycle:
            return cycle
    state[sid] = "done"
    order.append(sid)
    return None
