"""Plan: one immutable Plan per pipeline, made by the passes of flows.plan.passes run in sequence.

Every pass appends to one list of problems, so a user sees everything wrong with a file in one go.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.base import Component, Ports
from flows.errors import ParamError, Problem, SpecError
from flows.language import params as run_params
from flows.language.load import Locator, Project, did_you_mean
from flows.language.refs import ParamRef, StageRef
from flows.language.spec import Pipeline, Policies, effective_policies
from flows.plan.checks import Check
from flows.plan.passes import PASSES, Pass, PlanningContext
from flows.plan.registry import Registry, discover
from flows.plan.resources import PlannedResource, plan_resources, with_needs


@dataclass(frozen=True)
class PlannedStage:
    id: str
    uses: str
    component: type[Component]
    with_: Mapping[str, Any]  # as written: placeholders are resolved per run
    inputs: Mapping[str, ParamRef | StageRef]
    ports: Ports
    upstream: tuple[str, ...]  # every stage that must finish first (data edges and `after`)
    policies: Policies
    checks: tuple[Check, ...] = ()
    resources: tuple[tuple[str, str], ...] = ()  # (param, resource name) for each resource it uses

    @property
    def cacheable(self) -> bool:
        return bool(self.policies.cache) and self.component.cacheable


@dataclass(frozen=True)
class Plan:
    name: str
    pipeline: Pipeline
    stages: tuple[PlannedStage, ...]  # in a topological order
    project_root: Path
    file: str
    notes: tuple[Problem, ...] = ()  # adjustments the planner made, shown by validate and run
    resources: Mapping[str, PlannedResource] = dataclasses.field(default_factory=dict)  # of the chosen profile
    profile: str | None = None

    def stage(self, stage_id: str) -> PlannedStage:
        return next(s for s in self.stages if s.id == stage_id)

    def bind_params(self, given: Mapping[str, Any], *, from_text: bool = False) -> dict[str, Any]:
        return run_params.bind(self.name, self.pipeline.params, given, from_text=from_text)

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.pipeline.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def downstream(self, stage_id: str) -> set[str]:
        """Every stage that depends, directly or not, on ``stage_id``."""
        found: set[str] = set()
        for s in self.stages:  # topological order: dependencies are seen before dependents
            if stage_id in s.upstream or found & set(s.upstream):
                found.add(s.id)
        return found


def plan_project(
    project: Project, registry: Registry | None = None, *, passes: Sequence[Pass] = PASSES
) -> dict[str, Plan]:
    """Plan every pipeline of a project with ``passes``; raises SpecError listing every problem in the file."""
    registry = registry or discover(project.root)
    locator = Locator(project.display, project.positions)
    # Resources are the file's, shared by every pipeline: declared once, checked once.
    resources, every_profile, resource_problems = plan_resources(project, registry, locator)
    problems: list[Problem] = [*project.problems, *resource_problems]
    plans: dict[str, Plan] = {}
    for name, pipeline in project.spec.pipelines.items():
        ctx = PlanningContext(name, pipeline, project, registry, locator, resources, every_profile)
        plan, found = _plan_one(ctx, passes)
        problems += found
        if plan is not None:
            plans[name] = plan
    if problems:
        raise SpecError(problems)
    return plans


def plan_pipeline(project: Project, name: str, registry: Registry | None = None) -> Plan:
    plans = plan_project(project, registry)
    if name not in plans:
        raise ParamError(f"no pipeline '{name}'{did_you_mean(name, plans)}; pipelines are: {', '.join(plans)}")
    return plans[name]


def _plan_one(ctx: PlanningContext, passes: Sequence[Pass]) -> tuple[Plan | None, list[Problem]]:
    """Run the passes over one pipeline: its Plan (None when a pass found a problem) and the problems."""
    for run_pass in passes:
        run_pass(ctx)
    if ctx.problems or ctx.order is None:
        return None, ctx.problems
    stages = tuple(_planned_stage(ctx, sid) for sid in ctx.order)
    used = with_needs({name for s in stages for _, name in s.resources}, ctx.resources)
    resources = {n: r for n, r in ctx.resources.items() if n in used}
    project = ctx.project
    plan = Plan(
        ctx.name, ctx.pipeline, stages, project.root, project.display, tuple(ctx.notes), resources, project.profile
    )
    return plan, ctx.problems


def _planned_stage(ctx: PlanningContext, sid: str) -> PlannedStage:
    stage = ctx.pipeline.stages[sid]
    inputs = ctx.inputs[sid]
    upstream = sorted({r.stage for r in inputs.values() if isinstance(r, StageRef)} | set(stage.after))
    policies = effective_policies(stage, ctx.pipeline.defaults, ctx.project.defaults)
    with_ = {**stage.with_, **ctx.with_updates.get(sid, {})}
    checks, uses = ctx.checks.get(sid, ()), ctx.resource_uses.get(sid, ())  # () when run without those passes
    cls, ports = ctx.components[sid], ctx.ports[sid]
    return PlannedStage(sid, stage.uses, cls, with_, inputs, ports, tuple(upstream), policies, checks, uses)
