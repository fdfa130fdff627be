"""A stage's ``with:`` block becomes its component's Params: tried at plan time, resolved for real per run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from components.base import ComponentParams
from flows.errors import DagwrightError
from flows.language.load import allowed_keys, reword, unknown_key_message
from flows.language.refs import (
    EnvRef,
    MissingEnv,
    ParamRef,
    RefError,
    mentions_env,
    placeholders,
    resolve,
    walk_strings,
)
from flows.language.spec import Param


@dataclass
class Trial:
    params: ComponentParams | None
    errors: list[tuple[tuple[Any, ...], str]] = field(default_factory=list)


class StageParamsError(DagwrightError):
    """A stage's params are invalid once run parameters and environment variables are filled in."""


def trial_params(cls: type[ComponentParams], raw: Mapping[str, Any], declared: Mapping[str, Param]) -> Trial:
    """Validate ``with:`` before any run: params take their defaults; values that depend on the environment or
    on a required param are checked only when the run supplies them."""
    defaults = {k: p.default for k, p in declared.items() if not p.required}
    deferred = {k for k, v in raw.items() if _is_deferred(v, defaults)}
    values = {k: resolve(v, defaults, env={}) for k, v in raw.items() if k not in deferred}
    try:
        validated = cls.model_validate(values)
    except ValidationError as exc:
        errors = [_describe(e, cls) for e in exc.errors() if not _missing_deferred(e, deferred)]
        if errors:
            return Trial(None, errors)
        validated = cls.model_construct(**values)
    # Deferred fields keep their placeholder text so ports() can still be derived from the rest.
    return Trial(validated.model_copy(update={k: raw[k] for k in deferred}) if deferred else validated)


def _is_deferred(value: Any, defaults: Mapping[str, Any]) -> bool:
    for _, text in walk_strings(value):
        try:
            refs = list(placeholders(text))
        except RefError:
            return True
        if any(isinstance(r, EnvRef) or (isinstance(r, ParamRef) and r.name not in defaults) for r in refs):
            return True
    return False


def _missing_deferred(err: Any, deferred: set[str]) -> bool:
    return err["type"] == "missing" and err["loc"][:1] and err["loc"][0] in deferred


def _describe(err: Any, cls: type[ComponentParams]) -> tuple[tuple[Any, ...], str]:
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":  # listed against the keys of the model it is in (a nested one too)
        return loc, unknown_key_message(str(loc[-1]), allowed_keys(cls, loc[:-1]))
    if err["type"] == "missing":
        return loc[:-1], f"missing required key '{loc[-1]}'"
    return loc, reword(err)


def resolve_params(
    cls: type[ComponentParams], raw: Mapping[str, Any], params: Mapping[str, Any], where: str
) -> ComponentParams:
    """The stage's Params for one run. Errors never show values read from the environment."""
    try:
        values = resolve(raw, params)
    except MissingEnv as exc:
        raise StageParamsError(f"{where}: environment variable {exc.name} is not set (or is empty)") from None
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        secret = {k for k, v in raw.items() if mentions_env(v)}
        details = "; ".join(_safe(e, secret) for e in exc.errors())
        raise StageParamsError(f"{where}: invalid params: {details}") from None


def _safe(err: Any, secret: set[str]) -> str:
    loc = ".".join(map(str, err["loc"]))
    if err["loc"][:1] and err["loc"][0] in secret:
        message = str(err["msg"]).removeprefix("Value error, ")
    return f"with.{loc}: {message} (value from the environment, not shown)"
    return f"with.{loc}: {reword(err)}"
