"""What the planning passes share: the pipeline being planned, what earlier passes found, and one list of problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from components.base import Component, ComponentParams, Ports
from flows.errors import Problem
from flows.language.load import Locator, Project, did_you_mean
from flows.language.refs import ParamRef, StageRef
from flows.language.spec import Pipeline
from flows.plan.checks import Check
from flows.plan.registry import Registry
from flows.plan.resources import Resolved


@dataclass
class PlanningContext:
    """One pipeline's planning state. Each pass reads what earlier passes recorded and adds its own findings;
    every problem goes to ``problems``, so a user sees everything wrong with a file in one go."""

    name: str
    pipeline: Pipeline
    project: Project
    registry: Registry
    locator: Locator
    resources: Resolved = field(default_factory=dict)  # the file's, under the chosen profile
    every_profile: dict[str | None, Resolved] = field(default_factory=dict)  # for checking stages under each
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)  # adjustments the planner made, shown by validate and run
    components: dict[str, type[Component]] = field(default_factory=dict)  # only the stages whose `uses` resolved
    params_of: dict[str, ComponentParams] = field(default_factory=dict)  # only the stages whose `with` is valid
    ports: dict[str, Ports] = field(default_factory=dict)
    inputs: dict[str, dict[str, ParamRef | StageRef]] = field(default_factory=dict)  # stages whose refs all parse
    checks: dict[str, tuple[Check, ...]] = field(default_factory=dict)
    resource_uses: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)  # (param, resource name)
    with_updates: dict[str, dict[str, Any]] = field(default_factory=dict)  # `with` values a pass changed
    order: list[str] | None = None  # a topological order, once no cycle was found

    def at(self, *path: Any) -> tuple[Any, ...]:
        return ("pipelines", self.name, *path)

    def report(self, path: tuple[Any, ...], message: str, *, key: bool = False) -> None:
        self.problems.append(self.locator.problem(path, message, key=key))

    def note(self, path: tuple[Any, ...], message: str) -> None:
        self.notes.append(self.locator.problem(path, message))

    def plannable(self, sid: str) -> bool:
        """Whether the stage got far enough for a later pass to look at it (component, ports and inputs known)."""
        return sid in self.components and sid in self.ports and sid in self.inputs

    def unknown_param(self, name: str) -> str:
        params = self.pipeline.params
        return f"unknown param '{name}'{did_you_mean(name, params)}; params are: {', '.join(params) or '(none)'}"
