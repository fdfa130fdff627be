"""`dagwright show`: a plan as text and as a Mermaid flowchart."""

from __future__ import annotations

from collections.abc import Mapping

from flows.language.refs import ParamRef, StageRef
from flows.plan.planner import Plan, PlannedStage


def _source(ref: object) -> str:
    return f"${{params.{ref.name}}}" if isinstance(ref, ParamRef) else f"{ref.stage}.{ref.port}"  # type: ignore[attr-defined]


def as_text(plan: Plan) -> str:
    p = plan.pipeline
    lines = [f"{plan.name}: {p.description}" if p.description else plan.name]
    if p.params:
        shown = [f"{k}={'(required)' if v.required else repr(v.default)} ({v.type})" for k, v in p.params.items()]
        lines.append("  params: " + ", ".join(shown))
    if p.schedule:
        sched = p.schedule
        when = f"cron '{sched.cron}'" if sched.cron else f"every {sched.interval:g}s"
        lines.append(f"  schedule: {when} ({sched.timezone}){'' if sched.active else ', paused'}")
    if p.tags:
        lines.append("  tags: " + ", ".join(p.tags))
    width = max(len(s.id) for s in plan.stages)
    uses_width = max(len(s.uses) for s in plan.stages)
    lines.append("  stages (in run order):")
    for s in plan.stages:
        wired = [f"{port} <- {_source(ref)}" for port, ref in s.inputs.items()]
        wired += [f"after {u}" for u in order_only(s)]
        wired += [f"uses {name} ({plan.resources[name].uses})" for _, name in s.resources]
        lines.append(f"    {s.id:<{width}}  {s.uses:<{uses_width}}  {'; '.join(wired)}".rstrip())
    if plan.resources:
        lines.append("  resources" + (f" (profile {plan.profile})" if plan.profile else "") + ":")
        name_width = max(len(n) for n in plan.resources)
        lines += [f"    {name:<{name_width}}  {r.uses} ({r.kind})" for name, r in plan.resources.items()]
    return "\n".join(lines)


def as_mermaid(plan: Plan) -> str:
    lines = ["flowchart LR"]
    for param in {r.name for s in plan.stages for r in s.inputs.values() if isinstance(r, ParamRef)}:
        lines.append(f'  param_{param}(["params.{param}"])')
    for s in plan.stages:
        lines.append(f'  {_node(s.id)}["{s.id}<br/><small>{s.uses}</small>"]')
    for name, r in plan.resources.items():
        lines.append(f'  {_resource_node(name)}[("{name}<br/><small>{r.uses}</small>")]')
    for s in plan.stages:
        for port, ref in s.inputs.items():
            if isinstance(ref, ParamRef):
                lines.append(f"  param_{ref.name} -->|{port}| {_node(s.id)}")
            else:
                lines.append(f"  {_node(ref.stage)} -->|{ref.port} to {port}| {_node(s.id)}")
        lines += [f"  {_node(u)} -.->|after| {_node(s.id)}" for u in order_only(s)]
        lines += [f"  {_resource_node(name)} -.-|{param}| {_node(s.id)}" for param, name in s.resources]
    return "\n".join(lines)


def order_only(stage: PlannedStage) -> list[str]:
    """Upstream stages this one waits for (`after`) without taking any of their outputs."""
    fed_by = {ref.stage for ref in stage.inputs.values() if isinstance(ref, StageRef)}
    return [u for u in stage.upstream if u not in fed_by]


def _node(stage_id: str) -> str:
    return "s_" + stage_id.replace("-", "_")


def _resource_node(name: str) -> str:
    return "r_" + name.replace("-", "_")


def resources_table(
    plans: dict[str, Plan],
    declared: dict[str, tuple[str, str]],
    profile: str | None,
    named_by: Mapping[str, list[str]] | None = None,
) -> str:
    """`dagwright resources`: each declared resource, its type and kind, and the stages (and the resources, in
    ``named_by``) that use it."""
    users: dict[str, list[str]] = {name: [] for name in declared}
    for plan in plans.values():
        for s in plan.stages:
            for _, name in s.resources:
                users.setdefault(name, []).append(f"{plan.name}.{s.id}")
    for name, namers in (named_by or {}).items():
        users.setdefault(name, []).extend(f"resource {n}" for n in namers)
    if not declared:
        return "no resources declared (add a `resources:` section to pipelines.yaml)"
    width = max(len(n) for n in declared)
    type_width = max(len(u) for u, _ in declared.values())
    lines = [f"resources{f' (profile {profile})' if profile else ''}:"]
    for name, (uses, kind) in declared.items():
        used = ", ".join(users[name]) or "(unused)"
        lines.append(f"  {name:<{width}}  {uses:<{type_width}}  {kind:<15}  used by {used}")
    return "\n".join(lines)
