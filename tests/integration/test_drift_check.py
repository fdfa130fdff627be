"""`drift-check` as a Prefect flow: with `on_drift: fail` the flow run fails naming the drifted column, and its
report is still published as a markdown artifact of the check's task run, table and plots (what the UI shows:
tests/integration/browser/test_drift_ui.py)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from flows.prefect.executor import build_flow
from tests.components.test_usagereport import SVG
from tests.helpers.artifacts import flow_run_artifacts

pytestmark = pytest.mark.integration
KEY = "drift-check-check-report"  # pipeline, stage, port
PIPELINES = """
pipelines:
  drift-check:
    params:
      reference: {type: string}
      current: {type: string}
      on_drift: {type: string, enum: [fail, warn], default: fail}
    stages:
      check:
        uses: drift.check
        with: {reference: "${params.reference}", current: "${params.current}", on_drift: "${params.on_drift}"}
"""


def run_drift_check(plan_of: Any, folder: Path) -> tuple[Any, list[Any]]:
    """A sample whose `amount` moved by one standard deviation, checked as a flow; its state and artifacts."""
    rng = np.random.default_rng(5)
    shops = ["north", "south", "east"]
    reference = pd.DataFrame({"amount": rng.normal(size=2000), "shop": rng.choice(shops, size=2000)})
    current = pd.DataFrame({"amount": rng.normal(1.0, size=800), "shop": rng.choice(shops, size=800)})
    reference.to_parquet(folder / "reference.parquet")
    current.to_csv(folder / "current.csv", index=False)
    flow = build_flow(plan_of(PIPELINES, "drift-check"))
    state = flow(reference=str(folder / "reference.parquet"), current=str(folder / "current.csv"), return_state=True)
    return state, flow_run_artifacts(state)


def test_a_failed_check_still_publishes_its_report(prefect_api: str, plan_of: Any, tmp_path: Path) -> None:
    state, artifacts = run_drift_check(plan_of, tmp_path)
    assert state.is_failed()
    assert "DriftDetected: drift in 1 column(s): amount" in state.message
    report = next(a for a in artifacts if a.key == KEY)
    assert report.type == "markdown" and report.task_run_id is not None  # on the check's task run
    assert "| amount | KS |" in report.data and "| shop | PSI |" in report.data
    assert "**1 of 2 columns drifted**: `amount`" in report.data
    charts = SVG.findall(report.data)
    assert [alt for alt, _ in charts] == [f"Distribution of {c}, reference and current" for c in ("amount", "shop")]
    assert all(base64.b64decode(data).startswith(b"<svg ") for _, data in charts)
