"""Durations as YAML writes them (`30s`, `5m`, `1h`, `7d`), for the engine's policies and components' settings."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
# The strings parse_duration accepts, as JSON Schema (for editors): numbers are in the field's own schema.
DURATION_SCHEMA = {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"}
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as ``30s``, ``5m``, ``1h``, ``1d``."""
    if isinstance(value, bool):
        raise ValueError("expected seconds or a duration such as '30s', '5m', '1h'")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    raise ValueError(f"expected seconds or a duration such as '30s', '5m', '1h', got {value!r}")


def duration_in_schema(schema: dict[str, Any]) -> None:
    """`json_schema_extra` of an optional seconds field (`float | None`, an anyOf) that also takes '30s', '7d'."""
    schema["anyOf"].append(DURATION_SCHEMA)
