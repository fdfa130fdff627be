"""Every check a stage may declare, by name, and the Great Expectations expectations each one stands for.

Built-in checks know documents and chunks (and their embeddings), and the kinds that output types declare as
`Checkable` (components.base), such as an answer; any GX expectation can be named as such
(`expect_column_values_to_not_be_null: {column: x}`) on a DataFrame port.
Nothing here imports Great Expectations.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flows.plan.gxnames import gx_expectations

Expectation = tuple[str, dict[str, Any]]  # (GX class name, kwargs)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bounds(_Args):
    min: float | None = None
    max: float | None = None


class Count(_Args):
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)


class MinLength(_Args):
    min: int | None = Field(1, ge=0)
    max: int | None = Field(None, ge=0)


class NoArgs(_Args):
    pass


class Keys(_Args):
    keys: list[str] = Field(min_length=1)


class Dim(_Args):
    dim: int = Field(ge=1)


class MinSources(_Args):
    min: int = Field(1, ge=0)


@dataclass(frozen=True)
class Builtin:
    kinds: tuple[str, ...]  # port kinds it applies to: documents, answer, table
    args: type[_Args]
    expectations: Callable[[Any], list[Expectation]]
    row_level: bool  # failing rows can be quarantined; otherwise a failure concerns the whole value
    doc: str


def _between(column: str, low: Any, high: Any) -> Expectation:
    return ("ExpectColumnValuesToBeBetween", {"column": column, "min_value": low, "max_value": high})


BUILTINS: dict[str, Builtin] = {
    "count": Builtin(
        ("documents", "table"),
        Count,
        lambda a: [("ExpectTableRowCountToBeBetween", {"min_value": a.min, "max_value": a.max})],
        False,
        "number of documents or rows between min and max",
    ),
    "text_length": Builtin(
        ("documents", "answer"),
        MinLength,
        lambda a: [
            ("ExpectColumnValueLengthsToBeBetween", {"column": "content", "min_value": a.min, "max_value": a.max})
        ],
        True,
        "characters of each text between min (default 1) and max",
    ),
    "readable": Builtin(
        ("documents",),
        NoArgs,
        lambda a: [("ExpectColumnValuesToBeNull", {"column": "meta.error"})],
        True,
        "the loader could read each file (no `error` in meta; its value is the reason)",
    ),
    "unique_ids": Builtin(
        ("documents",),
        NoArgs,
        lambda a: [("ExpectColumnValuesToBeUnique", {"column": "id"})],
        True,
        "no two documents share an id",
    ),
    "required_meta": Builtin(
        ("documents",),
        Keys,
        lambda a: [("ExpectColumnValuesToNotBeNull", {"column": f"meta.{k}"}) for k in a.keys],
        True,
        "every document has these metadata keys",
    ),
    "embedding_dim": Builtin(
        ("documents",),
        Dim,
        lambda a: [
            ("ExpectColumnValuesToNotBeNull", {"column": "embedding_dim"}),
            _between("embedding_dim", a.dim, a.dim),
        ],
        True,
        "every document has an embedding of this dimension",
    ),
    "finite_embeddings": Builtin(
        ("documents",),
        NoArgs,
        lambda a: [("ExpectColumnValuesToBeInSet", {"column": "embedding_finite", "value_set": [True]})],
        True,
        "no NaN or infinite value in any embedding",
    ),
    "embedding_norm": Builtin(
        ("documents",),
        Bounds,
        lambda a: [_between("embedding_norm", a.min, a.max)],
        True,
        "L2 norm of each embedding between min and max",
    ),
    "sources_present": Builtin(
        ("answer",),
        MinSources,
        lambda a: [_between("sources", a.min, None)],
        False,
        "the answer cites at least min sources",
    ),
    "rows_kept": Builtin(
        ("training_set",),
        NoArgs,
        lambda a: [_between("rows_dropped", 0, 0)],
        False,
        "every entity row asked for is in the training set (Feast drops some without a word)",
    ),
}


class CheckError(ValueError):
    """A declared check is unknown, misapplied or has bad arguments; the message says what exists."""


@dataclass(frozen=True)
class Check:
    """One resolved check on one port of one stage."""

    direction: str  # "inputs" or "outputs"
    port: str
    name: str
    args: dict[str, Any]
    expectations: tuple[Expectation, ...]
    row_level: bool

    @property
    def label(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.args.items() if v is not None)
        return f"{self.name}({shown})" if shown else self.name


def resolve(direction: str, port: str, kind: str | None, item: Any) -> Check:
    """A check as written in YAML (`name` or `{name: {args}}`) resolved for a port of the given kind."""
    name, raw = _split(item)
    if name in BUILTINS:
        return _builtin(direction, port, kind, name, raw)
    if name in gx_expectations():
        return _gx(direction, port, kind, name, raw)
    from flows.language.load import did_you_mean

    known = [*BUILTINS, *gx_expectations()]
    raise CheckError(
        f"unknown check '{name}'{did_you_mean(name, known)}; built-in checks are "
        f"{', '.join(BUILTINS)}, or any Great Expectations expectation by name (expect_...)"
    )


def _split(item: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and len(item) == 1:
        name, raw = next(iter(item.items()))
        if raw is None or isinstance(raw, dict):
            return str(name), raw or {}
    raise CheckError("a check is a name or a one-key mapping `name: {args}`, e.g. `text_length: {min: 1}`")


def _builtin(direction: str, port: str, kind: str | None, name: str, raw: dict[str, Any]) -> Check:
    spec = BUILTINS[name]
    if kind not in spec.kinds:
        raise CheckError(f"check '{name}' applies to {' or '.join(spec.kinds)} ports; port '{port}' is {kind}")
    try:
        args = spec.args.model_validate(raw)
    except ValidationError as exc:
        allowed = ", ".join(spec.args.model_fields) or "none"
        details = "; ".join(
            f"unknown argument '{e['loc'][0]}' (arguments: {allowed})"
            if e["type"] == "extra_forbidden"
            else f"{'.'.join(map(str, e['loc']))}: {e['msg'][:1].lower()}{e['msg'][1:]}, got {e['input']!r}"
            for e in exc.errors()
        )
        raise CheckError(f"check '{name}': {details}") from None
    return Check(direction, port, name, args.model_dump(), tuple(spec.expectations(args)), spec.row_level)


def _gx(direction: str, port: str, kind: str | None, name: str, raw: dict[str, Any]) -> Check:
    if kind != "table":
        raise CheckError(
            f"Great Expectations expectation '{name}' applies to DataFrame ports; port '{port}' is "
            f"{kind} (use the built-in checks there)"
        )
    info = gx_expectations()[name]
    allowed = set(info["required"]) | set(info["optional"])
    unknown = sorted(set(raw) - allowed)
    missing = sorted(set(info["required"]) - set(raw))
    if unknown:
        from flows.language.load import did_you_mean

        raise CheckError(
            f"'{name}' takes no argument '{unknown[0]}'{did_you_mean(unknown[0], allowed)}; "
            f"it takes {', '.join(sorted(allowed))}"
        )
    if missing:
        raise CheckError(f"'{name}' needs {', '.join(missing)}")
    row_level = "column" in info["required"] and name.startswith("expect_column_values")
    return Check(direction, port, name, dict(raw), ((info["class"], dict(raw)),), row_level)


def describe_kind(port_type: Any) -> str:
    """The port's kind for messages: documents, answer, table, or its type when no check reads it."""
    from flows.plan.porttypes import type_name

    return port_kind(port_type) or f"{type_name(port_type)}, which no check reads"


def port_kind(port_type: Any) -> str | None:
    """What checks can see in a port: documents, table, or the kind a Checkable type declares; None otherwise."""
    from components.base import Checkable
    from components.documents import Document

    origin, args = typing.get_origin(port_type), typing.get_args(port_type)
    if origin is list and args and args[0] is Document:
        return "documents"
    if isinstance(port_type, type):
        if port_type.__module__.startswith("pandas") and port_type.__name__ == "DataFrame":
            return "table"
        if issubclass(port_type, Checkable):  # the type declares its kind, e.g. an answer
            return port_type.check_kind
    return None
