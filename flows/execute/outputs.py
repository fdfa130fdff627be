"""A run's final outputs: what the CLI prints, the Prefect UI shows as artifacts and the flow run's result holds.

The final outputs are those of the stages nothing depends on. Each is shown as its value declares
(components.base.Presentable); a value that declares nothing is shown as a short repr, never guessed at.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.base import Presentable
from flows.execute.runtime import RunResult
from flows.execute.secrets import Secrets
from flows.plan.planner import Plan

REPR_LIMIT = 300
DATA_LIMIT = 1_000_000  # characters of JSON per output in a flow run's result


@dataclass(frozen=True)
class FinalOutput:
    stage: str
    port: str
    value: Any

    @property
    def label(self) -> str:
        return f"{self.stage}.{self.port}"


def final_outputs(plan: Plan, result: RunResult) -> list[FinalOutput]:
    """The outputs of the stages no other stage depends on, in stage order (none of a stage that did not run)."""
    found = []
    for stage in plan.stages:
        if not plan.downstream(stage.id) and stage.id in result.stages:
            found += [FinalOutput(stage.id, p, v) for p, v in result.stages[stage.id].outputs.items()]
    return found


def short_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def output_markdown(value: Any) -> str:
    """Markdown as the value declares it, else its short repr in a code block."""
    if isinstance(value, Presentable):
        return value.as_markdown()
    return f"```\n{short_repr(value)}\n```"


def output_table(value: Any) -> list[dict[str, Any]] | None:
    """Rows, when the value declares itself a table."""
    return value.as_table() if isinstance(value, Presentable) else None


def output_data(value: Any) -> Any:
    """JSON-able data for API callers: as the value declares it, else the value with its dataclasses as their
    fields; its short repr when that is not JSON or too big (a list of embedded chunks is not a result anyone
    reads through the API)."""
    data = value.as_data() if isinstance(value, Presentable) else value
    try:
        text = json.dumps(data, default=_fields, allow_nan=False)
    except (TypeError, ValueError):
        return short_repr(value)
    return json.loads(text) if len(text) <= DATA_LIMIT else short_repr(value)


def _fields(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"{type(value).__name__} is not JSON")


def result_data(plan: Plan, result: RunResult, secrets: Secrets) -> dict[str, Any]:
    """What a flow run's persisted result holds: its status and its final outputs' data, secrets masked."""
    data = {
        "pipeline": result.pipeline,
        "status": "completed" if result.ok else "failed",
        "seconds": round(result.seconds, 3),
        "outputs": {o.label: output_data(o.value) for o in final_outputs(plan, result)},
    }
    return scrub_data(data, secrets)


def scrub_data(data: Any, secrets: Secrets) -> Any:
    """``data`` with every string scrubbed; keys too, as a mapping's keys can quote values."""
    if isinstance(data, str):
        return secrets.scrub(data)
    if isinstance(data, Mapping):
        return {scrub_data(k, secrets): scrub_data(v, secrets) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [scrub_data(v, secrets) for v in data]
    return data
