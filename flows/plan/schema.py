"""`dagwright schema`: a JSON Schema of pipelines.yaml for editors (yaml-language-server), with each
registered component's params under ``with`` so editors complete and check them too."""

from __future__ import annotations

from typing import Any

from flows.language.spec import PipelinesFile
from flows.plan.registry import Registry

_DURATION_FIELDS = {"retry_delay", "timeout", "interval"}
_DURATION = {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"}
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
    _component_params(defs["Stage"], registry, defs)
    return schema


def _allow_param_shorthand(defs: dict[str, Any]) -> None:
    # `name: default` is accepted for a param (see Param._shorthand).
    scalar = {"type": ["string", "number", "integer", "boolean", "array"]}
    defs["Pipeline"]["properties"]["params"]["additionalProperties"] = {"anyOf": [{"$ref": "#/$defs/Param"}, scalar]}


def _allow_duration_strings(model: dict[str, Any]) -> None:
    for name, prop in model.get("properties", {}).items():
        if name in _DURATION_FIELDS and "anyOf" in prop:
            prop["anyOf"].append(_DURATION)


def _component_params(stage: dict[str, Any], registry: Registry, defs: dict[str, Any]) -> None:
    stage["properties"]["uses"]["examples"] = registry.names()
    conditions = []
    for name in registry.names():
        params = registry.components[name].Params.model_json_schema(by_alias=True)
        nested = params.pop("$defs", {})
        for model in [params, *nested.values()]:
            _allow_placeholders(model)
        # Nested models (a retriever's store settings) refer to "#/$defs/...": hoist them to the root.
        defs.update(nested)
        conditions.append({"if": {"properties": {"uses": {"const": name}}}, "then": {"properties": {"with": params}}})
    stage["allOf"] = conditions


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
