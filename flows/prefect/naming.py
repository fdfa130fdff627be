"""Flow-run names a list of runs can be read by: the pipeline, then the params that tell its runs apart.

`rag-query: How does caching work…`, `rag-ingest: source=/data/manuals`. The params shown are the required ones
(the run's subject, by value alone) and the optional ones given another value than their default (as
`name=value`), in declaration order. A secret param never appears, and nor does any other value the run masks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flows.execute.secrets import Secrets
from flows.plan.planner import Plan

MAX_LENGTH = 60  # what the UI's run lists show before they cut a name themselves
VALUE_LENGTH = 40  # no single value takes the whole name


def run_name(plan: Plan, params: Mapping[str, Any], secrets: Secrets) -> str:
    shown = [_shown(name, value, plan) for name, value in params.items() if _tells_apart(plan, name, value)]
    if not shown:
        return plan.name
    return _cut(f"{plan.name}: {secrets.scrub(', '.join(shown))}", MAX_LENGTH)


def _tells_apart(plan: Plan, name: str, value: Any) -> bool:
    param = plan.pipeline.params.get(name)
    if param is None or param.secret:
        return False
    return param.required or value != param.default


def _shown(name: str, value: Any, plan: Plan) -> str:
    text = _cut(re.sub(r"\s+", " ", str(value)).strip(), VALUE_LENGTH)
    return text if plan.pipeline.params[name].required else f"{name}={text}"


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word's end when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    at_space = cut.rfind(" ")
    return (cut[:at_space] if at_space >= limit // 2 else cut).rstrip(" ,") + "…"
