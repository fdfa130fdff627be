"""Pass: each stage's inputs (refs that parse, ports that exist, types that fit, nothing required left unwired)
and its `after` list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.base import Ports
from flows.language.load import did_you_mean
from flows.language.refs import ParamRef, RefError, StageRef, parse_input
from flows.language.spec import Stage
from flows.plan.passes.context import PlanningContext
from flows.plan.porttypes import compatible, type_name


def check_edges(ctx: PlanningContext) -> None:
    for sid, stage in ctx.pipeline.stages.items():
        refs = _check_inputs(ctx, sid, stage)
        if refs is not None:
            ctx.inputs[sid] = refs
        _check_after(ctx, sid, stage)


def _check_inputs(ctx: PlanningContext, sid: str, stage: Stage) -> dict[str, ParamRef | StageRef] | None:
    ports = ctx.ports.get(sid)
    refs: dict[str, ParamRef | StageRef] = {}
    for port_name, text in stage.inputs.items():
        path = ctx.at("stages", sid, "inputs", port_name)
        try:
            refs[port_name] = parse_input(text)
        except RefError as exc:
            ctx.report(path, str(exc))
            continue
        if ports is not None and port_name not in ports.inputs:
            names = list(ports.inputs)
            ctx.report(
                path,
                f"{stage.uses} has no input '{port_name}'{did_you_mean(port_name, names)}; inputs are {names}",
                key=True,
            )
            continue
        expected = ports.inputs[port_name].type if ports is not None else None
        _check_edge(ctx, sid, port_name, refs[port_name], path, expected)
    if ports is not None:
        _check_required(ctx, sid, stage, ports, refs)
    return refs if len(refs) == len(stage.inputs) else None


def _check_edge(
    ctx: PlanningContext, sid: str, port_name: str, ref: ParamRef | StageRef, path: tuple, expected: Any
) -> None:
    if isinstance(ref, StageRef):
        _check_stage_edge(ctx, sid, port_name, ref, path, expected)
        return
    param = ctx.pipeline.params.get(ref.name)
    if param is None:
        ctx.report(path, ctx.unknown_param(ref.name))
    elif expected is not None and not compatible(param.python_type, expected):
        ctx.report(path, f"param '{ref.name}' is a {param.type}, but input '{port_name}' expects {type_name(expected)}")


def _check_stage_edge(ctx: PlanningContext, sid: str, port_name: str, ref: StageRef, path: tuple, expected: Any):
    stages = ctx.pipeline.stages
    if ref.stage not in stages:
        others = [s for s in stages if s != sid]
        ctx.report(path, f"unknown stage '{ref.stage}'{did_you_mean(ref.stage, others)}; stages are {others}")
        return
    if ref.stage == sid:
        ctx.report(path, f"stage '{sid}' cannot take its own output")
        return
    source_ports = ctx.ports.get(ref.stage)
    if source_ports is None:
        return  # the source stage's own problem is reported already
    outputs = list(source_ports.outputs)
    if ref.port not in source_ports.outputs:
        hint = did_you_mean(ref.port, outputs)
        ctx.report(path, f"stage '{ref.stage}' has no output '{ref.port}'{hint}; outputs are {outputs}")
        return
    produced = source_ports.outputs[ref.port].type
    if expected is not None and not compatible(produced, expected):
        ctx.report(
            path,
            f"type mismatch: {ref.stage}.{ref.port} is {type_name(produced)}, but input "
            f"'{port_name}' expects {type_name(expected)}",
        )


def _check_required(ctx: PlanningContext, sid: str, stage: Stage, ports: Ports, refs: Mapping[str, Any]) -> None:
    for port in ports.inputs.values():
        if port.required and port.name not in refs and port.name not in stage.inputs:
            ctx.report(
                ctx.at("stages", sid),
                f"missing required input '{port.name}' ({type_name(port.type)}) of {stage.uses}; "
                f"wire it under 'inputs', e.g. {port.name}: <stage>.<output>",
            )


def _check_after(ctx: PlanningContext, sid: str, stage: Stage) -> None:
    for i, other in enumerate(stage.after):
        if other not in ctx.pipeline.stages or other == sid:
            names = [s for s in ctx.pipeline.stages if s != sid]
            ctx.report(
                ctx.at("stages", sid, "after", i),
                f"unknown stage '{other}'{did_you_mean(other, names)}; stages are {names}",
            )
