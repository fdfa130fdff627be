"""`dagwright usage`: what the LLM gateway's calls cost, from its usage records (components/gateway/usage.py)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from flows.errors import ParamError


def since_seconds(text: str) -> float | None:
    """Seconds back from now for ``30m``, ``12h``, ``1d``...; None for ``all``."""
    from components.usagereport import window_seconds

    try:
        return window_seconds(text)
    except ValueError as exc:
        raise ParamError(f"--since {exc}") from None


def cmd_usage(args: argparse.Namespace) -> int:
    from components.gateway.usage import UsageStore, summarize
    from flows.execute.session import state_dir
    from flows.language.load import find_pipelines_file

    window = since_seconds(args.since)
    root = find_pipelines_file(args.file).resolve().parent
    path = state_dir(root) / "usage.sqlite"
    records = UsageStore(path).records(0.0 if window is None else time.time() - window) if path.exists() else []
    summary = summarize(records)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(render(summary, args.since, path))
    return 0


def render(summary: dict[str, Any], since: str, path: Path) -> str:
    from components.usagereport import render_text

    return render_text(
        summary, f"LLM usage since {since} ({path})" if since != "all" else f"LLM usage, all records ({path})"
    )
