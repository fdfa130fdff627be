"""Load pipelines.yaml into typed models; every problem is reported at once, each with file:line:col."""

from __future__ import annotations

import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from flows.errors import ParamError, Problem, SpecError
from flows.language.spec import Pipeline, PipelinesFile, Policies, Profile, ResourceSpec
from flows.language.yamlpos import Loaded, Positions, load_yaml

DEFAULT_FILE = "pipelines.yaml"
PROFILE_VARIABLE = "DAGWRIGHT_PROFILE"


@dataclass(frozen=True)
class Project:
    """A loaded pipelines file and the folder it lives in (the project root), under one profile."""

    file: Path
    display: str  # the file as the user named it, used in messages
    spec: PipelinesFile  # only the valid part when ``problems`` is not empty
    positions: Positions
    problems: tuple[Problem, ...] = ()  # found while loading; planning adds its own and raises them all
    profile: str | None = None  # chosen with --profile or DAGWRIGHT_PROFILE

    @property
    def root(self) -> Path:
        return self.file.parent

    @property
    def defaults(self) -> Policies:
        """The file's defaults with the profile's merged over them."""
        chosen = self._profile()
        if chosen is None or chosen.defaults is None:
            return self.spec.defaults
        return Policies(**{**_set_fields(self.spec.defaults), **_set_fields(chosen.defaults)})

    def resources(self) -> dict[str, tuple[ResourceSpec, tuple[Any, ...]]]:
        """Name -> (resource, its YAML path) as the profile makes them: the profile's replace the file's."""
        found: dict[str, tuple[ResourceSpec, tuple[Any, ...]]] = {
            name: (spec, ("resources", name)) for name, spec in self.spec.resources.items()
        }
        chosen = self._profile()
        if chosen is not None:
            for name, spec in chosen.resources.items():
                found[name] = (spec, ("profiles", self.profile, "resources", name))
        return found

    def _profile(self) -> Profile | None:
        return self.spec.profiles.get(self.profile) if self.profile else None


def _set_fields(model: BaseModel) -> dict[str, Any]:
    return {name: getattr(model, name) for name in model.model_fields_set}


class Locator:
    """Turns YAML paths into Problems that carry file:line:col."""

    def __init__(self, display: str, positions: Positions) -> None:
        self.display, self.positions = display, positions

    def problem(self, path: tuple[Any, ...], message: str, *, key: bool = False) -> Problem:
        line, col = self.positions.of(path, key=key)
        return Problem(self.display, line, col, dotted(path), message)


def dotted(path: tuple[Any, ...]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[")


def did_you_mean(word: str, options: typing.Iterable[str]) -> str:
    import difflib  # only for messages; not worth its import on every start-up

    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def find_pipelines_file(path: str | os.PathLike[str] | None) -> Path:
    candidate = Path(path or os.environ.get("DAGWRIGHT_PIPELINES", DEFAULT_FILE))
    if not candidate.is_file():
        raise ParamError(f"pipelines file '{candidate}' not found (give a path, or run from the project folder)")
    return candidate


def load(
    path: str | os.PathLike[str] | None = None, profile: str | None = None, *, display: str | None = None
) -> Project:
    """Load a pipelines file under a profile (default: $DAGWRIGHT_PROFILE, else none). Messages name the file
    as ``display`` (default: as given)."""
    file = find_pipelines_file(path)
    display = display or str(path or file)
    text = file.read_text(encoding="utf-8")
    try:
        loaded = load_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([Problem(display, line, col, "", f"invalid YAML: {exc.problem or exc}")]) from None
    spec, problems = validate(loaded, Locator(display, loaded.positions))
    chosen = choose_profile(spec, profile)
    return Project(file.resolve(), display, spec, loaded.positions, tuple(problems), chosen)


def choose_profile(spec: PipelinesFile, profile: str | None) -> str | None:
    name = profile or os.environ.get(PROFILE_VARIABLE) or None
    if name is not None and name not in spec.profiles:
        known = ", ".join(spec.profiles) or "(none: add a `profiles:` section)"
        raise ParamError(f"no profile '{name}'{did_you_mean(name, spec.profiles)}; profiles are: {known}")
    return name


def validate(loaded: Loaded, locator: Locator) -> tuple[PipelinesFile, list[Problem]]:
    """The file's valid part and the problems of the rest. Pipelines that validate are kept, so the planner can
    still report their own problems in the same pass."""
    problems = [
        Problem(
            locator.display,
            d.line,
            d.col,
            dotted(d.path),
            f"duplicate key '{d.path[-1]}' (first defined on line {d.first_line})",
        )
        for d in loaded.duplicates
    ]
    if not isinstance(loaded.data, dict):
        problems.append(locator.problem((), "expected a mapping with a 'pipelines' key"))
        raise SpecError(problems)
    # Top-level `x-...` keys hold YAML anchors to share (as in compose files); they are not part of the schema.
    data = {k: v for k, v in loaded.data.items() if not str(k).startswith("x-")}
    try:
        return PipelinesFile.model_validate(data), problems
    except ValidationError as exc:
        problems += [pydantic_problem(err, locator, PipelinesFile) for err in exc.errors()]
    return _valid_part(data), problems


def _valid_part(data: dict[str, Any]) -> PipelinesFile:
    try:
        defaults = Policies.model_validate(data.get("defaults") or {})
    except ValidationError:
        defaults = Policies()
    return PipelinesFile.model_construct(
        version=1,
        defaults=defaults,
        resources=_valid_items(data.get("resources"), ResourceSpec),
        profiles=_valid_items(data.get("profiles"), Profile),
        pipelines=_valid_items(data.get("pipelines"), Pipeline),
    )


M = typing.TypeVar("M", bound=BaseModel)


def _valid_items(raw: Any, model: type[M]) -> dict[str, M]:
    """The entries of a name -> item mapping that validate; the others are reported already."""
    found = {}
    for name, body in raw.items() if isinstance(raw, dict) else []:
        try:
            found[name] = model.model_validate(body)
        except ValidationError:
            continue
    return found


def pydantic_problem(err: Any, locator: Locator, model: type[BaseModel], prefix: tuple[Any, ...] = ()) -> Problem:
    """One pydantic error as a Problem, reworded for people who write YAML rather than Python."""
    loc = tuple(p for p in err["loc"] if p != "[key]")
    path = (*prefix, *loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        return locator.problem(path, unknown_key_message(str(loc[-1]), allowed_keys(model, loc[:-1])), key=True)
    if kind == "missing":
        return locator.problem(path[:-1], f"missing required key '{loc[-1]}'")
    return locator.problem(path, reword(err))


def unknown_key_message(key: str, allowed: list[str]) -> str:
    return f"unknown key '{key}'{did_you_mean(key, allowed)}; expected one of: {', '.join(allowed)}"


def reword(err: Any) -> str:
    message = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message[:1].lower() + message[1:]
    value = err.get("input")
    if isinstance(value, str | int | float | bool) and err["type"] not in ("value_error", "assertion_error"):
        message += f", got {value!r}"
    return message


def allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    target = model_at(model, loc)
    if target is None:
        return []
    return [f.alias or name for name, f in target.model_fields.items()]


def model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that validates the value at ``loc`` (for listing its keys)."""
    current: Any = model
    i = 0
    while i < len(loc):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next((f for n, f in current.model_fields.items() if loc[i] in (n, f.alias)), None)
        if field is None:
            return None
        current, i = _unwrap_container(_unwrap_optional(field.annotation), i + 1)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation


def _unwrap_container(annotation: Any, i: int) -> tuple[Any, int]:
    origin = typing.get_origin(annotation)
    if origin is dict:
        return _unwrap_optional(typing.get_args(annotation)[1]), i + 1
    if origin is list:
        return _unwrap_optional(typing.get_args(annotation)[0]), i + 1
    return annotation, i
