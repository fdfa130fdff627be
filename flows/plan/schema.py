"""`dagwright schema`: a JSON Schema of pipelines.yaml for editors (yaml-language-server), with each
registered component's params under ``with`` so editors complete and check them too."""

from __future__ import annotations

import re
from typing import Any

from components.durations import DURATION_SCHEMA
from components.haystack import HAYSTACK_SCHEME
from flows.language.spec import PipelinesFile
from flows.plan.registry import HAYSTACK_ALLOWED, NAME_PATTERN, Registry

_DURATION_FIELDS = {"retry_delay", "timeout", "interval"}
# `${params.x}` or `${env:X}`: validate accepts one for any `with` value and checks it per run (stageparams).
_PLACEHOLDER = {"type": "string", "pattern": r"\$\{[^}]+\}"}
# Kept beside the alternatives, so editors still show a field's description and default.
_ANNOTATIONS = ("title", "description", "default", "examples")


def json_schema(registry: Registry) -> dict[str, Any]:
    schema = PipelinesFile.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dagwright pipelines.yaml"
    schema["patternProperties"] = {"^x-": {}}  # anchors to share, ignored by dagwright
    defs = schema["$defs"]
    _allow_param_shorthand(defs)
    for model in defs.values():
        _allow_duration_strings(model)
    _settings_by_uses(defs["Stage"], {n: c.Params for n, c in registry.components.items()}, defs)
    _allow_haystack_uses(defs["Stage"], registry)
    _settings_by_uses(defs["ResourceSpec"], {n: c.Params for n, c in registry.resource_types.items()}, defs)
    return schema


def _allow_param_shorthand(defs: dict[str, Any]) -> None:
    # `name: default` is accepted for a param (see Param._shorthand).
    scalar = {"type": ["string", "number", "integer", "boolean", "array"]}
    defs["Pipeline"]["properties"]["params"]["additionalProperties"] = {"anyOf": [{"$ref": "#/$defs/Param"}, scalar]}


def _allow_duration_strings(model: dict[str, Any]) -> None:
    for name, prop in model.get("properties", {}).items():
        if name in _DURATION_FIELDS and "anyOf" in prop:
            prop["anyOf"].append(DURATION_SCHEMA)


def _settings_by_uses(model: dict[str, Any], params_of: dict[str, Any], defs: dict[str, Any]) -> None:
    """`with` checked against the Params of whatever `uses` names (a component for a stage, a type for a
    resource)."""
    model["properties"]["uses"]["examples"] = sorted(params_of)
    conditions = []
    for name in sorted(params_of):
        params = params_of[name].model_json_schema(by_alias=True)
        nested = params.pop("$defs", {})
        for settings in [params, *nested.values()]:
            _allow_placeholders(settings)
        # Nested models refer to "#/$defs/...": hoist them to the root.
        defs.update(nested)
        conditions.append({"if": {"properties": {"uses": {"const": name}}}, "then": {"properties": {"with": params}}})
    model["allOf"] = conditions


def _allow_placeholders(node: dict[str, Any]) -> None:
    """Let every typed value under ``node`` (an object schema), list items included, be a placeholder instead."""
    props = node.get("properties", {})
    for name, prop in props.items():
        for member in prop.get("anyOf", [prop]):
            _allow_placeholders(member)
            if isinstance(member.get("items"), dict):
                _allow_placeholders(member["items"])
                member["items"] = _or_placeholder(member["items"])
        props[name] = _or_placeholder(prop)


def _or_placeholder(prop: dict[str, Any]) -> dict[str, Any]:
    if prop.get("type") == "string" and set(prop) <= {"type", *_ANNOTATIONS}:
        return prop  # any string goes already
    kept = {k: v for k, v in prop.items() if k in _ANNOTATIONS}
    rest = {k: v for k, v in prop.items() if k not in _ANNOTATIONS}
    alternatives = rest["anyOf"] if set(rest) == {"anyOf"} else [rest]
    return {**kept, "anyOf": [*alternatives, _PLACEHOLDER]}


def _allow_haystack_uses(stage: dict[str, Any], registry: Registry) -> None:
    # Haystack components are named by class path; their init arguments are checked by `dagwright validate`.
    uses = stage["properties"]["uses"]
    uses["examples"] += sorted(registry.aliases)
    allowed = "|".join(re.escape(prefix) for prefix in HAYSTACK_ALLOWED)
    haystack = f"^{re.escape(HAYSTACK_SCHEME)}({allowed})[A-Za-z0-9_.]+$"
    uses["anyOf"] = [{"pattern": NAME_PATTERN.pattern}, {"pattern": haystack}]
