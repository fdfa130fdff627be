"""`usage.report`: what the LLM gateway's calls cost over a window, as the scheduled `usage-report` pipeline
publishes it (a markdown artifact with charts on Prefect, a JSON file, a summary in the terminal).

The numbers are those of `dagwright usage` (components/gateway/usage.py `summarize`), from the records of the
gateway resource the stage names, wherever they are stored; the charts add calls and cost (or tokens, when every
model is free) per hour or day over the window.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator

from components.base import Component, ComponentParams, Presentable
from components.gateway.resource import LlmGateway
from components.resources import Uses
from components.sinks import write_json

if TYPE_CHECKING:
    from components.gateway.usage import UsageRecord

_WINDOW = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Bar widths, smallest first, and how a chart's title names them: a window gets the smallest that gives it at most
# MAX_BARS bars.
BUCKETS = {60: "minute", 300: "5 minutes", 900: "15 minutes", 3600: "hour", 6 * 3600: "6 hours", 86400: "day"}
BUCKETS |= {7 * 86400: "week"}
MAX_BARS = 48
MODEL, CACHED, FAILED = "#2563eb", "#16a34a", "#dc2626"


def window_seconds(text: str) -> float | None:
    """Seconds back from now for ``30m``, ``12h``, ``1d``...; None for ``all``."""
    if text == "all":
        return None
    match = _WINDOW.match(text.strip())
    if not match:
        raise ValueError(f"'{text}': expected a number and a unit (s, m, h, d), e.g. 1d or 12h, or all")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def _bucket_seconds(span: float) -> int:
    return next((b for b in BUCKETS if span / b <= MAX_BARS), max(BUCKETS))


@dataclass(frozen=True)
class Bucket:
    """The calls of one bar: those answered by a model, from a cache, and failed (errors and refusals)."""

    start: float
    model: int = 0
    cached: int = 0
    failed: int = 0
    tokens: int = 0
    cost_usd: float = 0.0


def buckets(records: list[UsageRecord], start: float, end: float) -> tuple[int, list[Bucket]]:
    """The bar width and one bucket per bar from ``start`` to ``end``, aligned on whole widths (UTC)."""
    width = _bucket_seconds(max(end - start, 1.0))
    first = int(start // width) * width
    counts: dict[int, dict[str, float]] = {}
    for r in records:
        at = int(r.at // width) * width
        c = counts.setdefault(at, {"model": 0, "cached": 0, "failed": 0, "tokens": 0, "cost_usd": 0.0})
        kind = "failed" if r.outcome != "ok" else "cached" if r.cache in ("exact", "semantic") else "model"
        c[kind] += 1
        c["tokens"] += r.tokens_in + r.tokens_out
        c["cost_usd"] += r.cost_usd
    found = []
    for at in range(first, int(end) + 1, width):
        c = counts.get(at, {})
        found.append(
            Bucket(
                at,
                int(c.get("model", 0)),
                int(c.get("cached", 0)),
                int(c.get("failed", 0)),
                int(c.get("tokens", 0)),
                round(c.get("cost_usd", 0.0), 6),
            )
        )
    return width, found


@dataclass(frozen=True)
class UsageReport(Presentable):
    """The summary of `dagwright usage` over a window, with the calls per bar for the charts."""

    since: str  # as given: 1d, 12h, all
    start: float  # epoch seconds; the first record's time for `all`
    end: float
    summary: dict[str, Any]
    bucket_seconds: int = 3600
    series: list[Bucket] = field(default_factory=list)

    def present(self) -> str:
        from components.charts import sparkline

        head = f"LLM usage {self._window()}"
        if not self.summary["calls"]:
            return f"{head}\n  no calls in the window"
        calls = [b.model + b.cached + b.failed for b in self.series]
        sparks = f"  calls per {self._unit()}: {sparkline(calls)}  (max {max(calls)})"
        return f"{render_text(self.summary, head)}\n{sparks}"

    def as_markdown(self) -> str:
        head = [f"# LLM usage {self._title()}", "", f"{_when(self.start)} to {_when(self.end)} UTC", ""]
        if not self.summary["calls"]:
            return "\n".join([*head, "**No calls in the window**: the gateway recorded no model call in it."])
        return "\n".join([*head, *_totals_markdown(self.summary), "", *self._charts(), *_groups_markdown(self.summary)])

    def as_data(self) -> dict[str, Any]:
        return {
            "window": {"since": self.since, "start": _iso(self.start), "end": _iso(self.end)},
            "summary": self.summary,
            "bucket_seconds": self.bucket_seconds,
            "series": [
                {"start": _iso(b.start), "model": b.model, "cached": b.cached, "failed": b.failed}
                | {"tokens": b.tokens, "cost_usd": b.cost_usd}
                for b in self.series
            ],
        }

    def _title(self) -> str:
        return f"since {self.since}" if self.since != "all" else "of all records"

    def _window(self) -> str:
        span = f"{_when(self.start)} to {_when(self.end)} UTC"
        return f"since {self.since} ({span})" if self.since != "all" else f"of all records ({span})"

    def _unit(self) -> str:
        return BUCKETS.get(self.bucket_seconds, f"{self.bucket_seconds} seconds")

    def _charts(self) -> list[str]:
        from components.charts import Series, bar_chart, markdown_image

        labels = [_label(b.start, self.bucket_seconds) for b in self.series]
        calls = [
            Series("model", MODEL, [b.model for b in self.series]),
            Series("cache hit", CACHED, [b.cached for b in self.series]),
            Series("failed", FAILED, [b.failed for b in self.series]),
        ]
        unit = self._unit()
        charts = [f"## Calls per {unit}", "", markdown_image(f"Calls per {unit}", bar_chart("Calls", labels, calls))]
        if self.summary["cost_usd"] > 0:
            cost = [Series("cost", MODEL, [b.cost_usd for b in self.series])]
            chart = bar_chart("Cost (USD)", labels, cost, unit="$")
            charts += ["", f"## Cost per {unit}", "", markdown_image(f"Cost per {unit}", chart)]
        else:  # every model was free: the tokens say what the calls took
            tokens = [Series("tokens", MODEL, [b.tokens for b in self.series])]
            chart = bar_chart("Tokens (in + out; every model free)", labels, tokens)
            charts += ["", f"## Tokens per {unit}", "", markdown_image(f"Tokens per {unit}", chart)]
        return [*charts, ""]


def _totals_markdown(s: dict[str, Any]) -> list[str]:
    lat, ttft = s["latency_ms"], s["ttft_ms"]
    return [
        "| Calls | OK | Errors | Refused | Cancelled | Tokens in | Tokens out | Cost |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {s['calls']:,} | {s['ok']:,} | {s['errors']:,} | {s['refused']:,} | {s['cancelled']:,} | "
        f"{s['tokens_in']:,} | {s['tokens_out']:,} | ${s['cost_usd']:.4f} |",
        "",
        "| Cache hit rate | Error rate | Fallback rate |",
        "|---:|---:|---:|",
        f"| {_pct(s['cache_hit_rate'])} | {_pct(s['error_rate'])} | {_pct(s['fallback_rate'])} |",
        "",
        "| Latency p50 | Latency p95 | First token p50 | First token p95 |",
        "|---:|---:|---:|---:|",
        f"| {_ms(lat['p50'])} | {_ms(lat['p95'])} | {_ms(ttft['p50'])} | {_ms(ttft['p95'])} |",
        "",
        "Latency is of the calls a model answered (not the cache); time to first token, of those streamed.",
    ]


def _groups_markdown(s: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for title, key in groupings(s):
        lines += ["", f"## By {title}", "", f"| {title.capitalize()} | Calls | Tokens in | Tokens out | Cost |"]
        lines.append("|---|---:|---:|---:|---:|")
        for name, g in s[key].items():
            cells = f"{g['calls']:,} | {g['tokens_in']:,} | {g['tokens_out']:,} | ${g['cost_usd']:.4f}"
            lines.append(f"| {name.replace('|', '/')} | {cells} |")
    return lines


def groupings(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, key) of each grouping in the summary: prompt, model, pipeline, and those asked for (`--by`)."""
    titles = {"key": "API key id", "org": "organisation"}
    return [(titles.get(key[3:], key[3:]), key) for key in summary if key.startswith("by_")]


def render_text(summary: dict[str, Any], head: str) -> str:
    """The summary as `dagwright usage` prints it, under ``head``."""
    if not summary["calls"]:
        return f"{head}\n  no calls recorded"
    lat = summary["latency_ms"]
    lines = [
        head,
        f"  calls {summary['calls']}: {summary['ok']} ok, {summary['errors']} errors, {summary['refused']} refused, "
        f"{summary['cancelled']} cancelled",
        f"  tokens {summary['tokens_in']:,} in, {summary['tokens_out']:,} out; cost ${summary['cost_usd']:.4f}",
        f"  cache hit rate {_pct(summary['cache_hit_rate'])}; error rate {_pct(summary['error_rate'])}; "
        f"fallback rate {_pct(summary['fallback_rate'])}",
        f"  latency of model calls: p50 {_ms(lat['p50'])}, p95 {_ms(lat['p95'])}; time to first token "
        f"(streamed): p50 {_ms(summary['ttft_ms']['p50'])}, p95 {_ms(summary['ttft_ms']['p95'])}",
    ]
    for title, key in groupings(summary):
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


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(at))


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(at))


def _label(at: float, width: int) -> str:
    return time.strftime("%m-%d" if width >= 86400 else "%H:%M", time.gmtime(at))


class UsageReportParams(ComponentParams):
    llm: Annotated[str, Uses(LlmGateway)] = Field(
        "llm", description="The `llm.gateway` resource whose usage records are read."
    )
    since: str = Field("1d", description="The window back from now: a number and a unit (s, m, h, d), or all.")
    out: str | None = Field(None, description="Also write the report as JSON to this file (parents are created).")

    @field_validator("since")
    @classmethod
    def _window(cls, value: str) -> str:
        window_seconds(value)
        return value


@dataclass(frozen=True)
class UsageReportOutput:
    report: UsageReport


class UsageReporter(Component[UsageReportParams]):
    """The LLM gateway's usage over a window: cost and tokens by prompt, model and pipeline, cache hit rate,
    p50/p95 latency and time to first token, error and fallback rates, and charts of calls and cost per hour or
    day. With ``out`` it also writes the report as JSON. An empty window is a report that says so.

    Example:

    ```yaml
    uses: usage.report
    with: {llm: llm, since: 1d, out: .dagwright/reports/usage-report.json}
    ```
    """

    name = "usage.report"
    cacheable = False  # it reports on the records as they are now
    # Not `writes`: its JSON file is a copy of its output, and `dagwright check` should still read the records.

    def run(self) -> UsageReportOutput:
        from components.gateway.usage import summarize

        p = self.params
        gateway = self.resources.get(p.llm, LlmGateway)
        end = time.time()
        window = window_seconds(p.since)
        records = gateway.usage_records(0.0 if window is None else end - window)
        start = end - window if window is not None else (records[0].at if records else end)
        width, series = buckets(records, start, end)
        report = UsageReport(p.since, start, end, summarize(records), width, series)
        if p.out:
            write_json(Path(p.out), report.as_data())
        return UsageReportOutput(report)
