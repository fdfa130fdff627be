"""`dagwright usage`: what the LLM gateway's calls cost, from its usage records (components/gateway/usage.py)."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path
from typing import Any

from flows.errors import ParamError

_SINCE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since_seconds(text: str) -> float | None:
    """Seconds back from now for ``30m``, ``12h``, ``1d``...; None for ``all``."""
    if text == "all":
        return None
    match = _SINCE.match(text.strip())
    if not match:
        raise ParamError(f"--since '{text}': expected a number and a unit (s, m, h, d), e.g. 1d or 12h, or all")
    return float(match.group(1)) * _SECONDS[match.group(2)]


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
    head = f"LLM usage since {since} ({path})" if since != "all" else f"LLM usage, all records ({path})"
    if not summary["calls"]:
        return f"{head}\n  no calls recorded"
    lat = summary["latency_ms"]
    lines = [
        head,
        f"  calls {summary['calls']}: {summary['ok']} ok, {summary['errors']} errors, {summary['refused']} refused",
        f"  tokens {summary['tokens_in']:,} in, {summary['tokens_out']:,} out; cost ${summary['cost_usd']:.4f}",
        f"  cache hit rate {_pct(summary['cache_hit_rate'])}; error rate {_pct(summary['error_rate'])}; "
        f"fallback rate {_pct(summary['fallback_rate'])}",
        f"  latency of model calls: p50 {_ms(lat['p50'])}, p95 {_ms(lat['p95'])}; time to first token "
        f"(streamed): p50 {_ms(summary['ttft_ms']['p50'])}, p95 {_ms(summary['ttft_ms']['p95'])}",
    ]
    for title, key in (("prompt", "by_prompt"), ("model", "by_model"), ("pipeline", "by_pipeline")):
        lines += ["", f"  by {title:<30} {'calls':>6} {'tokens in':>10} {'tokens out':>10} {'cost':>10}"]
        for name, g in summary[key].items():
            lines.append(
                f"     {name:<30} {g['calls']:>6} {g['tokens_in']:>10,} {g['tokens_out']:>10,} {g['cost_usd']:>10.4f}"
            )
    return "\n".join(lines)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"
