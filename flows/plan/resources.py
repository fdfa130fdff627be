"""The resources pass: every declared resource (in the file and in every profile) is of a known type with valid
settings, and every stage param that names a resource names one that exists and is of the kind it needs.

Resources are shared by every pipeline of the file, so their settings take `${env:NAME}` (read when the resource
opens, never shown) but not `${params.NAME}`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from components.base import Component, ComponentParams, PipelinesNamed
from components.resources import Resource, kind_name, uses_of
from flows.errors import Problem
from flows.language.load import Locator, Project, did_you_mean
from flows.language.refs import ParamRef, RefError, placeholders, walk_strings
from flows.language.spec import ResourceSpec, Stage
from flows.plan.registry import Registry
from flows.plan.stageparams import trial_params


@dataclass(frozen=True)
class PlannedResource:
    name: str
    uses: str
    type: type[Resource]
    with_: Mapping[str, Any]  # as written: `${env:...}` is read when the resource opens
    settings: ComponentParams | None  # checked at plan time, env-dependent fields still as their placeholder
    where: tuple[Any, ...]  # its YAML path, for messages
    needs: Mapping[str, PlannedResource] = field(default_factory=dict)  # the resources its settings name

    @property
    def kind(self) -> str:
        return kind_name(self.type)


Resolved = dict[str, PlannedResource]


def plan_resources(project: Project, registry: Registry, locator: Locator) -> tuple[Resolved, dict, list[Problem]]:
    """The resources of the chosen profile, those of every profile (for checking stages against each), and the
    problems of every declaration."""
    problems: list[Problem] = []
    every: dict[str | None, Resolved] = {}
    for profile in [None, *project.spec.profiles]:
        view = Project(project.file, project.display, project.spec, project.positions, (), profile)
        every[profile] = {}
        for name, (spec, where) in view.resources().items():
            planned = _plan_one(name, spec, where, registry, locator, problems)
            if planned is not None:
                every[profile][name] = planned
                problems += _unknown_pipelines(planned, list(project.spec.pipelines), locator)
        every[profile] = link_resources(every[profile], locator, problems)
    return every[project.profile], every, sorted(set(problems))


def link_resources(resolved: Resolved, locator: Locator, problems: list[Problem]) -> Resolved:
    """``resolved`` with each resource's ``needs``: the resources its settings name (an `embedding.openai` that
    calls through an `llm.gateway`), of one profile. A name that is not declared, of the wrong kind, or that
    leads back to the resource itself is a problem at that setting."""
    linked: Resolved = {}

    def link(name: str, path: tuple[str, ...]) -> PlannedResource:
        if name not in linked:
            planned, needs = resolved[name], {}
            for param, kind in uses_of(planned.type.Params).items():
                target = planned.with_.get(param, planned.type.Params.model_fields[param].default)
                if target is None:  # an optional reference, not set
                    continue
                at = (*planned.where, "with", param)
                problem = _reference_problem(param, target, kind, resolved, (*path, name))
                if problem is not None:
                    problems.append(locator.problem(at, problem))
                else:
                    needs[target] = link(target, (*path, name))
            linked[name] = replace(planned, needs=needs)
        return linked[name]

    for name in resolved:
        link(name, ())
    return linked


def _reference_problem(
    param: str, target: Any, kind: type[Resource], resolved: Resolved, path: tuple[str, ...]
) -> str | None:
    wanted = kind_name(kind)
    fitting = [n for n, r in resolved.items() if issubclass(r.type, kind) and n not in path]
    if not isinstance(target, str) or "${" in target:
        return f"'{param}' names {a(wanted)} declared under `resources:`; got {target!r}"
    if target in path:
        return f"'{param}' names '{target}', which leads back to this resource: {' -> '.join([*path, target])}"
    found = resolved.get(target)
    if found is None:
        hint = did_you_mean(target, resolved)
        return f"unknown resource '{target}'{hint} for '{param}', which needs {a(wanted)}; {_listing(wanted, fitting)}"
    if not issubclass(found.type, kind):
        is_what = f"{a(found.uses)} ({found.kind})"
        return f"resource '{target}' is {is_what}, but '{param}' needs {a(wanted)}; {_listing(wanted, fitting)}"
    return None


def with_needs(names: set[str], resources: Mapping[str, PlannedResource]) -> set[str]:
    """``names`` and every resource they need, directly or not."""
    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in found and name in resources:
            found.add(name)
            todo += list(resources[name].needs)
    return found


def _plan_one(
    name: str, spec: ResourceSpec, where: tuple[Any, ...], registry: Registry, locator: Locator, problems: list
) -> PlannedResource | None:
    cls = registry.resource_type(spec.uses)
    if cls is None:
        known = sorted(registry.resource_types)
        problems.append(
            locator.problem(
                (*where, "uses"),
                f"unknown resource type '{spec.uses}'{did_you_mean(spec.uses, known)}; types are: {', '.join(known)}",
            )
        )
        return None
    if not _no_params(spec, where, locator, problems):
        return None
    trial = trial_params(cls.Params, spec.with_, {})
    for loc, message in trial.errors:
        problems.append(locator.problem((*where, "with", *loc), message, key=message.startswith("unknown key")))
    return PlannedResource(name, spec.uses, cls, spec.with_, trial.params, where)


def _unknown_pipelines(planned: PlannedResource, pipelines: list[str], locator: Locator) -> list[Problem]:
    """Pipelines that a resource's settings name (budgets per pipeline) but the file does not declare."""
    if planned.settings is None or not issubclass(planned.type, PipelinesNamed):
        return []
    return [
        locator.problem(
            (*planned.where, "with", *path),
            f"no pipeline '{name}'{did_you_mean(name, pipelines)}; pipelines are: {', '.join(pipelines)}",
            key=True,
        )
        for path, name in planned.type.named_pipelines(planned.settings)
        if name not in pipelines
    ]


def _no_params(spec: ResourceSpec, where: tuple[Any, ...], locator: Locator, problems: list) -> bool:
    ok = True
    for path, text in walk_strings(spec.with_):
        try:
            refs = list(placeholders(text))
        except RefError as exc:
            problems.append(locator.problem((*where, "with", *path), str(exc)))
            ok = False
            continue
        if any(isinstance(r, ParamRef) for r in refs):
            problems.append(
                locator.problem(
                    (*where, "with", *path),
                    "a resource is shared by every pipeline, so its settings cannot use ${params...}; "
                    "use a literal or ${env:NAME}",
                )
            )
            ok = False
    return ok


@dataclass(frozen=True)
class ResourceUse:
    param: str  # the component param that names it
    resource: str
    explicit: bool  # named in the stage's `with`, rather than the param's default


def resource_uses(cls: type[Component], stage: Stage) -> Iterator[ResourceUse]:
    """The resources a stage names; an optional resource param (default None) left unset names none."""
    for param, _kind in uses_of(cls.Params).items():
        value = stage.with_.get(param, cls.Params.model_fields[param].default)
        if value is not None:
            yield ResourceUse(param, value, param in stage.with_)


def check_stage_resources(
    cls: type[Component], stage: Stage, where: tuple[Any, ...], every: Mapping[str | None, Resolved], locator: Locator
) -> tuple[tuple[tuple[str, str], ...], list[Problem]]:
    """((param, resource name), ...) of a stage, and what is wrong with them under any profile."""
    kinds = uses_of(cls.Params)
    uses, problems = [], []
    for use in resource_uses(cls, stage):
        path = (*where, "with", use.param) if use.explicit else (*where, "uses")
        found = _use_problem(use, kinds[use.param], every, where, locator)
        if found:
            at, message = found
            problems.append(locator.problem(at or path, message))
        else:
            uses.append((use.param, use.resource))
    return tuple(uses), problems


def _use_problem(
    use: ResourceUse, kind: type[Resource], every: Mapping[str | None, Resolved], stage: tuple, locator: Locator
) -> tuple[tuple[Any, ...] | None, str] | None:
    """Where (None: at the stage) and what is wrong with one resource a stage names, under any profile."""
    wanted = kind_name(kind)
    if not isinstance(use.resource, str) or "${" in use.resource:
        return None, f"'{use.param}' names {a(wanted)} declared under `resources:`; got {use.resource!r}"
    for profile, resources in every.items():
        found = resources.get(use.resource)
        if found is None:
            if profile is not None:
                continue  # missing from the file itself, which is reported once
            if ("resources", use.resource) in locator.positions.keys:
                return None  # declared but invalid: reported at its declaration, not again at each stage
            hint = did_you_mean(use.resource, resources)
            fitting = [n for n, r in resources.items() if issubclass(r.type, kind)]
            message = f"unknown resource '{use.resource}'{hint} for '{use.param}', which needs {a(wanted)}; "
            return None, message + _listing(wanted, fitting)
        if not issubclass(found.type, kind):
            fitting = [n for n, r in resources.items() if issubclass(r.type, kind)]
            return _wrong_kind(use, wanted, found, profile, stage, _listing(wanted, fitting))
    return None


def _wrong_kind(
    use: ResourceUse, wanted: str, found: PlannedResource, profile: str | None, stage: tuple[Any, ...], listing: str
) -> tuple[tuple[Any, ...] | None, str]:
    is_what = f"{a(found.uses)} ({found.kind})"
    if profile is None:
        return None, f"resource '{use.resource}' is {is_what}, but '{use.param}' needs {a(wanted)}; {listing}"
    # The profile is what is wrong, so say it there, naming the stage that needs the other kind.
    user = f"stage '{stage[3]}' of pipeline '{stage[1]}'"
    return (
        (*found.where, "uses"),
        f"profile '{profile}' makes '{use.resource}' {is_what}, but {user} needs {a(wanted)} for '{use.param}'",
    )


def a(word: str) -> str:
    """The word with its article: "an embedding model", "an LLM provider", "a vector store"."""
    acronym = word[:2].isupper()
    vowel_sound = word[:1] in "AEFHILMNORSX" if acronym else word[:1].lower() in "aeiou"
    return f"{'an' if vowel_sound else 'a'} {word}"


def _listing(kind: str, names: list[str]) -> str:
    if not names:
        return f"declare one under `resources:` (`dagwright resources --types` lists the types of {kind})"
    return f"{kind} resources are: {', '.join(names)}"
