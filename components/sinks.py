"""Sinks: stages that write their input somewhere and return nothing."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import Field

from components.base import Component, ComponentParams


class JsonSinkParams(ComponentParams):
    path: str = Field(description="File to write; parent folders are created.")
    indent: int | None = Field(2, ge=0, le=8)


class JsonSink(Component[JsonSinkParams]):
    """Writes its input as JSON to a file, atomically (a reader never sees a half-written file).

    Dataclasses and pydantic models are written as objects; anything else JSON cannot hold as a string.

    Example:

    ```yaml
    uses: sink.json
    with: {path: .dagwright/reports/stats.json}
    inputs: {data: stats.output}
    ```
    """

    name = "sink.json"
    cacheable = False  # writing is the point; skipping it on a cache hit would lose the file
    writes = True

    def run(self, data: Any) -> None:
        write_json(Path(self.params.path), data, self.params.indent)


def write_json(target: Path, data: Any, indent: int | None = 2) -> None:
    """``data`` as JSON in ``target``, atomically (a reader never sees a half-written file); parents are made."""
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=indent, default=_to_json, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(tmp, target)


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)
