"""Plan: resolve components, check params and edges, order stages. One immutable Plan per pipeline.

Every check appends to one list of problems, so a user sees everything wrong with a file in one go.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.base import Component, ComponentError, ComponentParams, Ports
from flows.errors import ParamError, Problem, RegistryError, SpecError
from flows.language import params as run_params
from flows.language.load import Locator, Project, did_you_mean
from flows.language.refs import ParamRef, RefError, StageRef, parse_input, placeholders, walk_strings
from flows.language.spec import Pipeline, Policies, Stage, StageChecks, effective_policies
from flows.plan.checks import Check, CheckError, describe_kind, port_kind
from flows.plan.checks import resolve as resolve_check
from flows.plan.porttypes import compatible, type_name
from flows.plan.registry import Registry, discover
from flows.plan.resources import PlannedResource, check_stage_resources, plan_resources
from flows.plan.stageparams import trial_params


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


def plan_project(project: Project, registry: Registry | None = None) -> dict[str, Plan]:
    """Plan every pipeline of a project; raises SpecError listing every problem in the file."""
    registry = registry or discover(project.root)
    locator = Locator(project.display, project.positions)
    resources, every_profile, resource_problems = plan_resources(project, registry, locator)
    problems: list[Problem] = [*project.problems, *resource_problems]
    plans: dict[str, Plan] = {}
    for name, pipeline in project.spec.pipelines.items():
        planner = _Planner(name, pipeline, project, registry, locator, (resources, every_profile))
        plan = planner.plan()
        problems += planner.problems
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


class _Planner:
    def __init__(
        self, name: str, pipeline: Pipeline, project: Project, registry: Registry, locator: Locator, resources: Any
    ):
        self.name, self.pipeline, self.project = name, pipeline, project
        self.registry, self.locator = registry, locator
        self.resources, self.every_profile = resources
        self.problems: list[Problem] = []
        self.notes: list[Problem] = []
        self.ports: dict[str, Ports] = {}
        self.params_of: dict[str, ComponentParams] = {}

    def at(self, *path: Any) -> tuple[Any, ...]:
        return ("pipelines", self.name, *path)

    def report(self, path: tuple[Any, ...], message: str, *, key: bool = False) -> None:
        self.problems.append(self.locator.problem(path, message, key=key))

    def plan(self) -> Plan | None:
        self._check_param_defaults()
        components = {sid: self._component(sid, st) for sid, st in self.pipeline.stages.items()}
        for sid, st in self.pipeline.stages.items():
            cls = components[sid]
            if cls is not None:
                self._resolve_ports(sid, st, cls)
        planned = [self._stage(sid, st, components[sid]) for sid, st in self.pipeline.stages.items()]
        order = self._topological_order()
        if self.problems or order is None:
            return None
        by_id = {s.id: s for s in planned if s is not None}
        stages = self._fit_token_windows(tuple(by_id[i] for i in order))
        used = {name for s in stages for _, name in s.resources}
        return Plan(
            self.name,
            self.pipeline,
            stages,
            self.project.root,
            self.project.display,
            tuple(self.notes),
            {n: r for n, r in self.resources.items() if n in used},
            self.project.profile,
        )

    def _fit_token_windows(self, stages: tuple[PlannedStage, ...]) -> tuple[PlannedStage, ...]:
        """Cap a chunker's chunk size at the token window of the embedders it feeds, and say so."""
        fitted = []
        for stage in stages:
            fit = getattr(stage.component, "fit_to_window", None)
            limit = self._smallest_window_fed_by(stage.id, stages)
            change = fit(self.params_of[stage.id], *limit) if fit and limit and stage.id in self.params_of else None
            if change:
                updates, note = change
                self.notes.append(self.locator.problem(self.at("stages", stage.id, "with"), note))
                stage = dataclasses.replace(stage, with_={**stage.with_, **updates})
            fitted.append(stage)
        return tuple(fitted)

    def _smallest_window_fed_by(self, sid: str, stages: tuple[PlannedStage, ...]) -> tuple[int, str] | None:
        """(tokens, component) of the smallest token window among the stages that take ``sid``'s output."""
        windows: list[tuple[int, str]] = [
            (consumer.component.token_window(self.params_of[consumer.id], self._settings()), consumer.uses)  # type: ignore[attr-defined]
            for consumer in stages
            if hasattr(consumer.component, "token_window")
            and consumer.id in self.params_of
            and any(isinstance(r, StageRef) and r.stage == sid for r in consumer.inputs.values())
        ]
        windows = [(w, name) for w, name in windows if w is not None]
        return min(windows) if windows else None

    def _settings(self) -> dict[str, tuple[type, Any]]:
        return {n: (r.type, r.settings) for n, r in self.resources.items() if r.settings is not None}

    def _check_param_defaults(self) -> None:
        for pname, param in self.pipeline.params.items():
            if not param.required and param.default is not None:
                try:
                    run_params.coerce(self.name, pname, param, param.default)
                except ParamError as exc:
                    self.report(self.at("params", pname, "default"), str(exc).split(": ", 1)[-1])

    def _component(self, sid: str, stage: Stage) -> type[Component] | None:
        try:
            return self.registry.resolve(stage.uses)
        except RegistryError as exc:
            self.report(self.at("stages", sid, "uses"), str(exc))
            return None

    def _resolve_ports(self, sid: str, stage: Stage, cls: type[Component]) -> None:
        params = self._check_with(sid, stage, cls)
        if params is None:
            if cls.has_static_ports():  # edges can still be checked while the params are wrong
                self.ports[sid] = cls.ports(cls.Params.model_construct())
            return
        self.params_of[sid] = params
        try:
            self.ports[sid] = cls.ports(params)
        except ComponentError as exc:
            self.report(self.at("stages", sid, "with"), str(exc))

    def _check_with(self, sid: str, stage: Stage, cls: type[Component]) -> ComponentParams | None:
        ok = self._check_placeholders(sid, stage)
        trial = trial_params(cls.Params, stage.with_, self.pipeline.params)
        for loc, message in trial.errors:
            self.report(self.at("stages", sid, "with", *loc), message, key=message.startswith("unknown key"))
        return trial.params if ok and not trial.errors else None

    def _check_placeholders(self, sid: str, stage: Stage) -> bool:
        ok = True
        for path, text in walk_strings(stage.with_):
            try:
                refs = list(placeholders(text))
            except RefError as exc:
                self.report(self.at("stages", sid, "with", *path), str(exc))
                ok = False
                continue
            for ref in refs:
                if isinstance(ref, ParamRef) and ref.name not in self.pipeline.params:
                    self.report(self.at("stages", sid, "with", *path), self._unknown_param(ref.name))
                    ok = False
        return ok

    def _unknown_param(self, name: str) -> str:
        params = self.pipeline.params
        return f"unknown param '{name}'{did_you_mean(name, params)}; params are: {', '.join(params) or '(none)'}"

    def _stage(self, sid: str, stage: Stage, cls: type[Component] | None) -> PlannedStage | None:
        inputs = self._check_inputs(sid, stage)
        self._check_after(sid, stage)
        if cls is None or sid not in self.ports or inputs is None:
            return None
        upstream = sorted({r.stage for r in inputs.values() if isinstance(r, StageRef)} | set(stage.after))
        policies = effective_policies(stage, self.pipeline.defaults, self.project.defaults)
        checks = self._checks(sid, stage, cls, self.ports[sid])
        uses, problems = check_stage_resources(cls, stage, self.at("stages", sid), self.every_profile, self.locator)
        self.problems += problems
        return PlannedStage(
            sid, stage.uses, cls, stage.with_, inputs, self.ports[sid], tuple(upstream), policies, checks, uses
        )

    def _checks(self, sid: str, stage: Stage, cls: type[Component], ports: Ports) -> tuple[Check, ...]:
        """The stage's checks: the component's defaults, overridden port by port by the stage's own."""
        if stage.checks is False:
            return ()
        spec = stage.checks if isinstance(stage.checks, StageChecks) else StageChecks()
        found: list[Check] = []
        for direction in ("inputs", "outputs"):
            declared = getattr(spec, direction)
            defaults = cls.default_checks.get(direction, {}) if spec.defaults else {}
            for port, items in {**defaults, **declared}.items():
                where = ("stages", sid, "checks", direction, port) if port in declared else ("stages", sid, "uses")
                found += self._port_checks(direction, port, items, getattr(ports, direction), where)
        return tuple(found)

    def _port_checks(self, direction: str, port: str, items: list[Any], known: Any, where: tuple) -> list[Check]:
        if port not in known:
            names = list(known)
            self.report(
                self.at(*where),
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
                self.report(self.at(*where, i) if where[2] == "checks" else self.at(*where), str(exc))
        return checks

    def _check_inputs(self, sid: str, stage: Stage) -> dict[str, ParamRef | StageRef] | None:
        ports = self.ports.get(sid)
        refs: dict[str, ParamRef | StageRef] = {}
        for port_name, text in stage.inputs.items():
            path = self.at("stages", sid, "inputs", port_name)
            try:
                refs[port_name] = parse_input(text)
            except RefError as exc:
                self.report(path, str(exc))
                continue
            if ports is not None and port_name not in ports.inputs:
                names = list(ports.inputs)
                self.report(
                    path,
                    f"{stage.uses} has no input '{port_name}'{did_you_mean(port_name, names)}; inputs are {names}",
                    key=True,
                )
                continue
            self._check_edge(sid, stage, port_name, refs[port_name], path)
        if ports is not None:
            self._check_required(sid, stage, ports, refs)
        return refs if len(refs) == len(stage.inputs) else None

    def _check_edge(self, sid: str, stage: Stage, port_name: str, ref: ParamRef | StageRef, path: tuple) -> None:
        expected = self.ports[sid].inputs[port_name].type if sid in self.ports else None
        if isinstance(ref, ParamRef):
            param = self.pipeline.params.get(ref.name)
            if param is None:
                self.report(path, self._unknown_param(ref.name))
            elif expected is not None and not compatible(param.python_type, expected):
                self.report(
                    path, f"param '{ref.name}' is a {param.type}, but input '{port_name}' expects {type_name(expected)}"
                )
            return
        self._check_stage_edge(sid, port_name, ref, path, expected)

    def _check_stage_edge(self, sid: str, port_name: str, ref: StageRef, path: tuple, expected: Any) -> None:
        stages = self.pipeline.stages
        if ref.stage not in stages:
            others = [s for s in stages if s != sid]
            self.report(path, f"unknown stage '{ref.stage}'{did_you_mean(ref.stage, others)}; stages are {others}")
            return
        if ref.stage == sid:
            self.report(path, f"stage '{sid}' cannot take its own output")
            return
        source_ports = self.ports.get(ref.stage)
        if source_ports is None:
            return  # the source stage's own problem is reported already
        outputs = list(source_ports.outputs)
        if ref.port not in source_ports.outputs:
            hint = did_you_mean(ref.port, outputs)
            self.report(path, f"stage '{ref.stage}' has no output '{ref.port}'{hint}; outputs are {outputs}")
            return
        produced = source_ports.outputs[ref.port].type
        if expected is not None and not compatible(produced, expected):
            self.report(
                path,
                f"type mismatch: {ref.stage}.{ref.port} is {type_name(produced)}, but input "
                f"'{port_name}' expects {type_name(expected)}",
            )

    def _check_required(self, sid: str, stage: Stage, ports: Ports, refs: Mapping[str, Any]) -> None:
        for port in ports.inputs.values():
            if port.required and port.name not in refs and port.name not in stage.inputs:
                self.report(
                    self.at("stages", sid),
                    f"missing required input '{port.name}' ({type_name(port.type)}) of {stage.uses}; "
                    f"wire it under 'inputs', e.g. {port.name}: <stage>.<output>",
                )

    def _check_after(self, sid: str, stage: Stage) -> None:
        for i, other in enumerate(stage.after):
            if other not in self.pipeline.stages or other == sid:
                names = [s for s in self.pipeline.stages if s != sid]
                self.report(
                    self.at("stages", sid, "after", i),
                    f"unknown stage '{other}'{did_you_mean(other, names)}; stages are {names}",
                )

    def _edges(self) -> dict[str, list[str]]:
        edges: dict[str, list[str]] = {}
        for sid, stage in self.pipeline.stages.items():
            deps = [s for s in stage.after if s in self.pipeline.stages]
            for text in stage.inputs.values():
                try:
                    ref = parse_input(text)
                except RefError:
                    continue
                if isinstance(ref, StageRef) and ref.stage in self.pipeline.stages and ref.stage != sid:
                    deps.append(ref.stage)
            edges[sid] = sorted(set(deps))
        return edges

    def _topological_order(self) -> list[str] | None:
        """Stages in dependency order (file order among equals); reports a cycle and returns None if any."""
        edges = self._edges()
        order: list[str] = []
        state: dict[str, str] = {}
        for sid in self.pipeline.stages:
            cycle = _visit(sid, edges, state, order, [])
            if cycle:
                # _visit walks from a stage to what it needs; data flows the other way, so show it reversed.
                flow = list(reversed(cycle))
                self.report(self.at("stages", flow[0]), f"cycle: {' -> '.join(flow)}")
                return None
        return order


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
