"""A long stage's progress in the Prefect UI: a progress artifact on its task run, updated as it runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from flows.execute.runtime import RunResult
from flows.prefect.executor import build_flow
from tests.conftest import REPO

pytestmark = pytest.mark.integration

FN = "tests.helpers.progressfns"


def test_a_stages_progress_is_a_progress_artifact_on_its_task_run(prefect_api: str, plan_of) -> None:
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              count:
                uses: python.call
                with: {{function: "{FN}:counted", kwargs: {{n: 400, batch: 1, pause: 0.006}}}}
              blink:
                uses: python.call
                with: {{function: "{FN}:counted", kwargs: {{n: 400, batch: 1}}}}
        """)
    results: list[RunResult] = []
    state = build_flow(plan, results=results, use_cache=False)(return_state=True)
    assert state.is_completed(), state

    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType

    with get_client(sync_client=True) as client:
        flow_run_id = state.state_details.flow_run_id
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]), type=ArtifactFilterType(any_=["progress"])
            )
        )
        tasks = {t.id: t.name for t in client.read_task_runs()}
    # One artifact for the stage that reported for seconds, however many reports (400): updated, never re-created.
    # None for the stage that was over in a blink (flows.execute.progress.DELAY).
    assert len(artifacts) == 1
    (artifact,) = artifacts
    assert tasks[artifact.task_run_id] == "count"
    assert float(artifact.data) == 100.0
    assert artifact.description == "count: 400 of 400 (100%)"


def test_the_cli_shows_progress_lines_of_a_prefect_run(prefect_api: str, tmp_path) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text(
        "pipelines:\n  p:\n    stages:\n      count:\n        uses: python.call\n"
        f"        with: {{function: '{FN}:counted', kwargs: {{n: 300, batch: 1, pause: 0.008}}}}\n"
    )
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "flows.cli", "-f", str(path), "run", "p", "--no-cache"]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert "as a Prefect flow" in done.stdout
    assert "count            progress 300/300 (100%)" in done.stdout  # not a TTY: plain lines
