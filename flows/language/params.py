"""Run parameters: bind what a caller gave to a pipeline's declared params, with types, defaults and bounds."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from flows.errors import ParamError
from flows.language.load import did_you_mean
from flows.language.spec import Param

_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}
_SHOWN = 60  # characters of a string value quoted in a message


def bind(pipeline: str, declared: Mapping[str, Param], given: Mapping[str, Any], *, from_text: bool = False) -> dict:
    """Every declared param's value: given, else its default. ``from_text`` parses CLI strings by type."""
    unknown = [k for k in given if k not in declared]
    if unknown:
        name = unknown[0]
        raise ParamError(
            f"pipeline '{pipeline}' has no param '{name}'{did_you_mean(name, declared)}; "
            f"params are: {', '.join(declared) or '(none)'}"
        )
    bound: dict[str, Any] = {}
    for name, param in declared.items():
        if name in given:
            bound[name] = coerce(pipeline, name, param, given[name], from_text=from_text)
        elif param.required:
            raise ParamError(f"pipeline '{pipeline}' needs param '{name}' ({param.type}); pass --param {name}=...")
        else:
            bound[name] = param.default
    return bound


def coerce(pipeline: str, name: str, param: Param, value: Any, *, from_text: bool = False) -> Any:
    try:
        typed = _parse_text(param.type, value) if from_text and isinstance(value, str) else value
        _check_type(param.type, typed)
        _check_bounds(param, typed)
    except ValueError as exc:
        reason = str(exc)
        if param.secret:  # its value is not shown, even when it is the wrong one
            reason = reason.replace(str(value), "***")
        raise ParamError(f"pipeline '{pipeline}', param '{name}': {reason}") from None
    return float(typed) if param.type == "number" else typed


def _parse_text(kind: str, text: str) -> Any:
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ValueError(f"expected true or false, got {text!r}")
    if kind in ("list", "object"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected JSON for a {kind}: {exc}") from None
    return text


_ACCEPTS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list,),
    "object": (dict,),
}


def _check_type(kind: str, value: Any) -> None:
    ok = isinstance(value, _ACCEPTS[kind]) and not (kind in ("integer", "number") and isinstance(value, bool))
    if not ok:
        raise ValueError(f"expected {kind}, got {type(value).__name__} {value!r}")


def _check_bounds(param: Param, value: Any) -> None:
    if param.enum is not None and value not in param.enum:
        raise ValueError(f"{value!r} is not one of {param.enum}")
    if param.minimum is not None and value < param.minimum:
        raise ValueError(f"{value!r} is below the minimum {_bound(param, param.minimum)}")
    if param.maximum is not None and value > param.maximum:
        raise ValueError(f"{value!r} is above the maximum {_bound(param, param.maximum)}")
    if isinstance(value, str):
        _check_text(param, value)


def _check_text(param: Param, value: str) -> None:
    shown = _shown(param, value)
    # Whitespace around the text does not count towards min_length: "   " is as blank as "" to a user.
    length = len(value.strip())
    if param.min_length and length == 0:
        raise ValueError(f"{shown} is blank (empty or only whitespace); it needs at least {_chars(param.min_length)}")
    if param.min_length is not None and length < param.min_length:
        raise ValueError(
            f"{shown} has {_chars(length)} (whitespace around it not counted), "
            f"fewer than the minimum length {param.min_length}"
        )
    if param.max_length is not None and len(value) > param.max_length:
        raise ValueError(f"{shown} has {_chars(len(value))}, more than the maximum length {param.max_length}")
    if param.pattern is not None and not re.search(param.pattern, value):
        raise ValueError(f"{shown} does not match the pattern {param.pattern!r}")


def _shown(param: Param, value: str) -> str:
    # A long value is named by its start, not quoted whole into a one-line message; a secret not even by that.
    if param.secret:
        return "***"
    return repr(value) if len(value) <= _SHOWN else f"{value[:_SHOWN]!r}..."


def _chars(count: int) -> str:
    return f"{count} character" if count == 1 else f"{count} characters"


def _bound(param: Param, bound: float) -> int | float:
    # Bounds are parsed as floats; an integer param's bound reads as the integer it is.
    return int(bound) if param.type == "integer" and float(bound).is_integer() else bound


def json_schema(param: Param) -> dict[str, Any]:
    """What a param declares beyond its type and default, as JSON Schema keywords: the run form shows the
    description, and a server that enforces the schema refuses a value outside these before a run starts."""
    # Prefect's form shows no bound, only the description: the rule goes there too, so a user reads the range
    # before typing rather than in the error after submitting.
    description = "\n\n".join(text for text in (param.description, _rule(param)) if text)
    schema: dict[str, Any] = {"description": description} if description else {}
    if param.enum is not None:
        schema["enum"] = list(param.enum)
    for key in ("minimum", "maximum"):
        if (bound := getattr(param, key)) is not None:
            schema[key] = _bound(param, bound)
    if param.min_length is not None:
        schema["minLength"] = param.min_length
    if param.max_length is not None:
        schema["maxLength"] = param.max_length
    patterns = [p for p in (param.pattern, non_blank_pattern(param.min_length)) if p]
    if patterns:
        schema["pattern"] = patterns[0]
    if len(patterns) > 1:  # JSON Schema has one `pattern` per schema: the second goes under allOf
        schema["allOf"] = [{"pattern": patterns[1]}]
    return schema


def non_blank_pattern(min_length: int | None) -> str | None:
    """min_length as _check_text counts it (whitespace around the text not counted): minLength counts every
    character, so this pattern asks for min_length characters from the first non-space one to a last one."""
    if not min_length:
        return None
    return r"\S" if min_length == 1 else rf"\S[\s\S]{{{min_length - 2},}}\S"


def _rule(param: Param) -> str:
    """The bounds of ``param`` in words: 'From 1 to 20.', 'Not blank, at most 1000 characters.'"""
    text = ", ".join([*_range_words(param), *_text_words(param)])
    return f"{text[:1].upper()}{text[1:]}." if text else ""


def _range_words(param: Param) -> list[str]:
    low, high = (None if b is None else _bound(param, b) for b in (param.minimum, param.maximum))
    if low is not None and high is not None:
        return [f"from {low} to {high}"]
    if low is not None:
        return [f"at least {low}"]
    return [] if high is None else [f"at most {high}"]


def _text_words(param: Param) -> list[str]:
    words = []
    if param.min_length == 1:
        words.append("not blank")
    elif param.min_length:
        words.append(f"at least {param.min_length} characters")
    if param.max_length is not None:
        words.append(f"at most {param.max_length} characters")
    if param.pattern is not None:
        words.append(f"matching `{param.pattern}`")
    return words
