"""The reference syntax of pipelines.yaml.

- ``${params.NAME}``: a run parameter. Alone in a value it keeps the parameter's type; inside a longer string
  it is interpolated as text.
- ``${env:NAME}``: an environment variable, read when the stage runs and never printed.
- ``STAGE.PORT`` (in ``inputs``): another stage's output port.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"\$\{\s*([^}]*?)\s*\}")
PARAM_REF = re.compile(r"^params\.([A-Za-z_][A-Za-z0-9_]*)$")
ENV_REF = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")
STAGE_REF = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_]*)$")
IDENTIFIER = r"^[A-Za-z][A-Za-z0-9_-]*$"


class RefError(ValueError):
    """A malformed reference; the message says what forms exist."""


@dataclass(frozen=True)
class ParamRef:
    name: str


@dataclass(frozen=True)
class EnvRef:
    name: str


@dataclass(frozen=True)
class StageRef:
    stage: str
    port: str


def placeholders(text: str) -> Iterator[ParamRef | EnvRef]:
    """Every ``${...}`` in a string, parsed; raises RefError for an unknown form."""
    for match in PLACEHOLDER.finditer(text):
        yield _parse_placeholder(match.group(1))


def _parse_placeholder(body: str) -> ParamRef | EnvRef:
    if m := PARAM_REF.match(body):
        return ParamRef(m.group(1))
    if m := ENV_REF.match(body):
        return EnvRef(m.group(1))
    raise RefError(f"unknown reference '${{{body}}}'; use '${{params.NAME}}' or '${{env:NAME}}'")


def parse_input(value: str) -> ParamRef | StageRef:
    """An ``inputs`` value: ``stage.port`` or a lone ``${params.name}``."""
    whole = PLACEHOLDER.fullmatch(value.strip())
    if whole:
        ref = _parse_placeholder(whole.group(1))
        if isinstance(ref, EnvRef):
            raise RefError("inputs take 'stage.port' or '${params.NAME}'; put ${env:...} settings under 'with'")
        return ref
    if m := STAGE_REF.match(value.strip()):
        return StageRef(m.group(1), m.group(2))
    raise RefError(f"expected 'stage.port' or '${{params.NAME}}', got '{value}'")


def walk_strings(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string inside nested dicts and lists, with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from walk_strings(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk_strings(v, (*path, i))


class MissingEnv(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def resolve(value: Any, params: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Any:
    """Substitute placeholders in nested data. A lone placeholder keeps its value's type."""
    env = os.environ if env is None else env
    if isinstance(value, str):
        return _resolve_string(value, params, env)
    if isinstance(value, Mapping):
        return {k: resolve(v, params, env) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, params, env) for v in value]
    return value


def _resolve_string(text: str, params: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    whole = PLACEHOLDER.fullmatch(text)
    if whole:
        return _lookup(_parse_placeholder(whole.group(1)), params, env)
    return PLACEHOLDER.sub(lambda m: str(_lookup(_parse_placeholder(m.group(1)), params, env)), text)


def _lookup(ref: ParamRef | EnvRef, params: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    if isinstance(ref, ParamRef):
        return params[ref.name]
    # An empty value counts as unset: an empty DSN or key would otherwise fall back to a driver's defaults
    # (found when an empty DAGWRIGHT_PG_DSN reached the machine's own PostgreSQL).
    if not env.get(ref.name):
        raise MissingEnv(ref.name)
    return env[ref.name]


def mentions_env(value: Any) -> bool:
    """Whether a value reads the environment, so its resolved form must never be shown."""
    return any(isinstance(r, EnvRef) for _, s in walk_strings(value) for r in _safe_placeholders(s))


def _safe_placeholders(text: str) -> Iterator[ParamRef | EnvRef]:
    try:
        yield from placeholders(text)
    except RefError:
        return
