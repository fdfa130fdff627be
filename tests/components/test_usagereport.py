"""`usage.report` and the shipped `usage-report` pipeline, run in process over usage records with known numbers:
the same numbers as `dagwright usage`, the charts, the JSON file, and an empty window."""

from __future__ import annotations

import base64
import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from components.charts import sparkline
from components.gateway.resource import LlmGateway
from components.gateway.usage import UsageRecord
from components.resources import opened
from components.usagereport import UsageReport, buckets, window_seconds
from flows.cli.main import main
from tests.flows.test_cli_usage import records

PIPELINES = """
resources:
  llm: {uses: llm.gateway}
pipelines:
  usage-report:
    params:
      since: {type: string, default: 1d}
      out: report.json
    stages:
      report:
        uses: usage.report
        with: {llm: llm, since: "${params.since}", out: "${params.out}"}
"""
SVG = re.compile(r"!\[([^\]]*)\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)")


def record_all(home: Path, made: list[UsageRecord]) -> None:
    """Into the usage store of a gateway opened on ``home``, as its calls would be."""
    gateway = opened(LlmGateway, state_dir=home)
    try:
        for record in made:
            gateway.usage.record(record)
    finally:
        gateway.close()


def run_report(file: Path, *params: str) -> int:
    args = [arg for p in params for arg in ("-p", p)]
    return main(["-f", str(file), "run", "usage-report", "--local", *args])


def test_the_report_has_the_numbers_of_dagwright_usage_and_charts_them(
    write_pipelines, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time()
    record_all(isolated_home, records(now))
    file = write_pipelines(PIPELINES)
    assert main(["-f", str(file), "usage", "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)
    out = file.parent / "reports" / "usage.json"

    assert run_report(file, f"out={out}") == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["summary"] == expected  # one summary, one set of numbers
    summary = report["summary"]
    assert (summary["calls"], summary["ok"], summary["errors"], summary["refused"]) == (24, 22, 1, 1)
    assert (summary["tokens_in"], summary["tokens_out"], summary["cost_usd"]) == (2050, 405, 0.03)
    assert summary["latency_ms"] == {"p50": 1000, "p95": 1900} and summary["ttft_ms"] == {"p50": 40, "p95": 60}
    assert report["bucket_seconds"] == 3600 and len(report["series"]) in (24, 25)  # a day of hours, ends included
    bars = report["series"]
    assert [sum(b[k] for b in bars) for k in ("model", "cached", "failed")] == [21, 1, 2]
    assert round(sum(b["cost_usd"] for b in bars), 6) == 0.03
    assert "calls 24: 22 ok, 1 errors, 1 refused" in printed  # the terminal summary
    assert "cache hit rate 4.5%; error rate 4.2%; fallback rate 4.8%" in printed
    assert re.search(r"calls per hour: [▁▂▃▄▅▆▇█]{24,25}  \(max 2[34]\)", printed)


def report_of(made: list[UsageRecord], since: str = "1d", end: float | None = None) -> UsageReport:
    from components.gateway.usage import summarize

    end = end or time.time()
    window = window_seconds(since)
    start = end - window if window is not None else made[0].at
    made = [r for r in made if r.at >= start]  # as the store reads them
    width, series = buckets(made, start, end)
    return UsageReport(since, start, end, summarize(made), width, series)


def test_the_markdown_has_the_tables_and_svg_charts_the_prefect_ui_shows() -> None:
    markdown = report_of(records(time.time())).as_markdown()
    assert "| 24 | 22 | 1 | 1 | 0 | 2,050 | 405 | $0.0300 |" in markdown
    assert "| 4.5% | 4.2% | 4.8% |" in markdown and "| 1,000 ms | 1,900 ms | 40 ms | 60 ms |" in markdown
    assert "| gpt-4o-mini | 1 | 50 | 5 | $0.0100 |" in markdown
    charts = SVG.findall(markdown)
    assert [alt for alt, _ in charts] == ["Calls per hour", "Cost per hour"]  # cost: some model was paid for
    svg = ET.fromstring(base64.b64decode(charts[0][1]))  # well-formed, so a browser draws it
    titles = [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    counts = {kind: sum(int(t.split(": ")[1].split()[0]) for t in titles if t.endswith(kind)) for kind in ("model",)}
    assert counts == {"model": 21}
    assert sum(int(t.split(": ")[1].split()[0]) for t in titles if t.endswith(" failed")) == 2


def test_free_models_chart_tokens_and_buckets_follow_the_window() -> None:
    at = 1_800_000_000.0  # a whole day (UTC): buckets align on it
    free = [UsageRecord("p@1", "m", "local", "ok", "miss", 10, 5, 100.0, at=at + h * 3600 + 5) for h in (0, 0, 2)]
    report = report_of(free, "7d", end=at + 3 * 3600)
    assert report.bucket_seconds == 6 * 3600  # a week of 6-hour bars: at most 48
    assert [alt for alt, _ in SVG.findall(report.as_markdown())] == ["Calls per 6 hours", "Tokens per 6 hours"]
    hours = report_of(free, "4h", end=at + 4 * 3600 - 1)
    assert hours.bucket_seconds == 300 and len(hours.series) == 49  # the window starts 1 s into its first bar
    width, series = buckets(free, at, at + 3 * 3600 - 1)
    assert width == 300 and (series[0].model, series[0].tokens) == (2, 30)
    assert sparkline([0, 1, 8]) == "▁▂█" and sparkline([0, 0]) == "▁▁"


def test_an_empty_window_is_a_report_that_says_so(
    write_pipelines, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_all(isolated_home, [UsageRecord("p@1", "m", "local", "ok", at=time.time() - 3 * 86400)])  # too old
    file = write_pipelines(PIPELINES)
    assert run_report(file) == 0
    assert "no calls in the window" in capsys.readouterr().out
    report = json.loads((file.parent / "report.json").read_text())
    assert report["summary"]["calls"] == 0 and report["summary"]["latency_ms"] == {"p50": None, "p95": None}
    empty = report_of([], "1d")
    assert "**No calls in the window**" in empty.as_markdown() and not SVG.search(empty.as_markdown())
    everything = report_of([UsageRecord("p@1", "m", "local", "ok", at=time.time() - 3 * 86400)], "all")
    assert everything.summary["calls"] == 1  # `all` reaches back to the first record


def test_a_bad_window_is_refused_where_it_is_written(write_pipelines, capsys: pytest.CaptureFixture[str]) -> None:
    file = write_pipelines(PIPELINES.replace('since: "${params.since}"', "since: yesterday"))
    assert main(["-f", str(file), "validate"]) != 0
    err = capsys.readouterr().err
    assert "stages.report.with.since" in err
    assert "'yesterday': expected a number and a unit (s, m, h, d), e.g. 1d or 12h, or all" in err
