"""`dagwright components`: every registered component with its params and ports (or, with --markdown, the
builtin ones as the list README.md shows)."""

from __future__ import annotations

import inspect
from typing import Any

from components.base import Component, ComponentError
from flows.plan.porttypes import type_name
from flows.plan.registry import Registry


def describe_components(registry: Registry) -> str:
    blocks = [_describe(name, registry.components[name], registry.origins[name]) for name in registry.names()]
    blocks += [_describe_alias(alias, path) for alias, path in sorted(registry.aliases.items())]
    return "\n\n".join(blocks)


def markdown_list(registry: Registry) -> str:
    """The builtin components as a Markdown list, one line each: the list README.md shows."""
    builtin = [name for name in registry.names() if registry.origins[name].startswith("builtin ")]
    return "\n".join(f"- `{name}`: {_summary(registry.components[name])}" for name in builtin)


def _summary(cls: type[Component]) -> str:
    return (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")


def _describe_alias(alias: str, path: str) -> str:
    # Without importing Haystack (about a second): `validate` on a file that uses it shows the details.
    return (
        f"{alias}  (alias of haystack:{path})\n"
        "  Haystack component: `with` takes its init arguments; its sockets are the ports"
    )


def _describe(name: str, cls: type[Component], origin: str) -> str:
    lines = [f"{name}  (v{cls.version}, {origin})", f"  {_summary(cls)}"]
    lines += [f"  param  {line}" for line in _params(cls)]
    try:
        ports = cls.ports(cls.Params.model_construct())
    except (ComponentError, AttributeError, TypeError):  # ports that depend on params (python.call)
        lines.append("  ports  depend on its params (see its docs)")
        return "\n".join(lines)
    lines += [
        f"  in     {p.name}: {type_name(p.type)}{'' if p.required else ' (optional)'}" for p in ports.inputs.values()
    ]
    lines += [f"  out    {p.name}: {type_name(p.type)}" for p in ports.outputs.values()]
    return "\n".join(lines)


def _params(cls: type[Component]) -> list[str]:
    out = []
    for field_name, field in cls.Params.model_fields.items():
        default: Any = "(required)" if field.is_required() else f"= {field.get_default(call_default_factory=True)!r}"
        text = f"{field.alias or field_name}: {type_name(field.annotation)} {default}"
        out.append(text + (f"  {field.description}" if field.description else ""))
    return out
