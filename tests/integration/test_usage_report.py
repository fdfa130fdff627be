"""The `usage-report` pipeline as a Prefect flow: its report is a markdown artifact of the flow run, with the
numbers of `dagwright usage` and its charts as SVG images (what the UI shows: tests/integration/browser)."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest

from components.gateway.usage import summarize
from flows.prefect.executor import build_flow
from tests.components.test_usagereport import PIPELINES, SVG, record_all
from tests.helpers.artifacts import flow_run_artifacts
from tests.helpers.usagedays import simulated_day

pytestmark = pytest.mark.integration
KEY = "usage-report-report-report"  # pipeline, stage, port


def run_usage_report(plan_of: Any, home: Path) -> tuple[Any, list[Any]]:
    """A simulated day recorded, then the report run as a flow; its state and the flow run's artifacts."""
    record_all(home, simulated_day(time.time()))
    flow = build_flow(plan_of(PIPELINES, "usage-report"))
    state = flow(out=str(home / "usage-report.json"), return_state=True)  # not in the working folder
    return state, flow_run_artifacts(state)


def test_the_flow_run_publishes_the_report_with_its_charts(prefect_api: str, plan_of: Any, isolated_home: Path) -> None:
    state, artifacts = run_usage_report(plan_of, isolated_home)
    assert state.is_completed()
    report = next(a for a in artifacts if a.key == KEY)
    assert report.type == "markdown" and report.task_run_id is not None  # on the stage's task run
    s = summarize(simulated_day(time.time()))
    assert f"| {s['calls']:,} | {s['ok']:,} | {s['errors']:,} | {s['refused']:,} |" in report.data
    assert "| rag-answer@1 |" in report.data and "| gpt-4o-mini |" in report.data
    charts = SVG.findall(report.data)
    assert [alt for alt, _ in charts] == ["Calls per hour", "Cost per hour"]
    assert all(base64.b64decode(data).startswith(b"<svg ") for _, data in charts)
