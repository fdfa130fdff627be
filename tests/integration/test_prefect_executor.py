"""What only the Prefect executor has: flow parameters, task runs, states, the summary artifact.

The semantics both executors share are tested once for both in tests/flows/test_executors.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flows.execute.runtime import RunResult
from flows.prefect.executor import build_flow
from tests.helpers.pipelines import FAILING_BRANCHES, FN, buggy, flaky

pytestmark = pytest.mark.integration


def run_flow(plan, **params):
    results: list[RunResult] = []
    state = build_flow(plan, results=results)(**params, return_state=True)
    return state, results[-1]


def read_flow_run(state):
    from prefect import get_client

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
        return flow_run, tasks


def test_flow_params_stages_and_summary_artifact(prefect_api: str, plan_of) -> None:
    plan = plan_of(f"""
        pipelines:
          p:
            description: sums numbers
            params: {{n: {{type: integer, default: 3, minimum: 1}}}}
            stages:
              nums:
                uses: python.call
                with: {{function: "{FN}:numbers"}}
                inputs: {{n: "${{params.n}}"}}
              doubled:
                uses: python.call
                with: {{function: "{FN}:double"}}
                inputs: {{values: nums.output}}
              total:
                uses: python.call
                with: {{function: "{FN}:total"}}
                inputs: {{values: doubled.output}}
        """)
    flow = build_flow(plan)
    assert flow.name == "p"
    assert flow.parameters.properties["n"]["type"] == "integer"
    state, result = run_flow(plan, n=4)
    assert state.is_completed() and result.output("total") == 20
    flow_run, tasks = read_flow_run(state)
    assert flow_run.parameters == {"n": 4}
    assert sorted(t.name for t in tasks) == ["doubled", "nums", "total"]
    assert all(t.state.is_completed() for t in tasks)

    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    summary = next(a for a in artifacts if a.key == "p-summary")
    assert summary.type == "table"
    rows = json.loads(summary.data) if isinstance(summary.data, str) else summary.data
    assert [row["stage"] for row in rows] == ["nums", "doubled", "total"]
    assert rows[0]["rows_out"] is None and rows[2]["rows_in"] is None  # a list of numbers is one value, not rows
    assert "completed" in summary.description


def test_failure_fails_the_flow_with_a_reason_and_skips_downstream(prefect_api: str, plan_of) -> None:
    plan = plan_of(FAILING_BRANCHES)
    state, _ = run_flow(plan)
    assert state.is_failed()
    assert state.message == "pipeline 'p': stage 'broken' failed: ValueError: boom: this stage always fails"
    _, tasks = read_flow_run(state)
    by_name = {t.name: t for t in tasks}
    assert by_name["broken"].state.is_failed() and by_name["healthy"].state.is_completed()
    assert "after_broken" not in by_name or not by_name["after_broken"].state.is_completed()


def test_retries_come_from_the_yaml(prefect_api: str, plan_of, tmp_path: Path) -> None:
    log = tmp_path / "flaky.log"
    plan = plan_of(flaky(log, retries=2, failures=2))
    state, result = run_flow(plan)
    assert state.is_completed(), state.message
    assert result.stages["flaky"].attempts == 3
    assert len(log.read_text().splitlines()) == 3
    _, tasks = read_flow_run(state)
    assert next(t for t in tasks if t.name == "flaky").run_count == 3


def test_bad_flow_parameter_is_rejected_before_any_stage(prefect_api: str, plan_of) -> None:
    plan = plan_of(f"""
        pipelines:
          p:
            params: {{n: {{type: integer, default: 3, maximum: 10}}}}
            stages:
              nums:
                uses: python.call
                with: {{function: "{FN}:numbers"}}
                inputs: {{n: "${{params.n}}"}}
        """)
    results: list[RunResult] = []
    state = build_flow(plan, results=results)(n=50, return_state=True)
    assert state.is_failed()
    assert state.message == "pipeline 'p', param 'n': 50 is above the maximum 10"
    assert not results


@pytest.mark.usefixtures("project_in_tmp_path")  # loader.files reads under the project root
def test_gate_reports_are_task_run_artifacts_and_a_failed_gate_fails_the_flow(
    prefect_api: str, plan_of, tmp_path: Path
) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nwords\n")
    (docs / "empty.md").write_text("")
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              load: {{uses: loader.files, with: {{path: "{docs}"}}}}
              count:
                uses: python.call
                with: {{function: "{FN}:count_documents"}}
                inputs: {{documents: load.output}}
        """)
    state, result = run_flow(plan)
    assert state.is_failed()
    assert state.message.startswith(
        "pipeline 'p': stage 'load' failed: GateFailed: gate of stage 'load' failed: "
        "outputs.output: text_length(min=1) failed"
    )
    assert "\n" not in state.message
    assert result.stages["load"].attempts == 1  # not retried
    flow_run, tasks = read_flow_run(state)
    load_run = next(t for t in tasks if t.name == "load")
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    gates = [a for a in artifacts if (a.key or "").endswith("-gate")]
    assert [a.key for a in gates] == ["p-load-gate"]  # one per gated stage, keyed by pipeline and stage
    table = gates[0]
    assert table.type == "table" and table.task_run_id == load_run.id
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert [(r["check"], r["action"]) for r in rows] == [
        ("readable", "passed"),
        ("count(min=1)", "passed"),
        ("text_length(min=1)", "stopped"),
        ("unique_ids", "passed"),
    ]
    assert "**text_length(min=1)**: stopped" in table.description


def task_run_logs(task_run_id: Any) -> list[str]:
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterTaskRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # the run's log lines are sent in batches
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(task_run_id=LogFilterTaskRunId(any_=[task_run_id])))
    return [log.message for log in logs]


def test_a_bugs_traceback_is_logged_once_on_its_task_run(prefect_api: str, plan_of) -> None:
    state, result = run_flow(plan_of(buggy(retries=1)))
    assert state.message == "pipeline 'p': stage 'buggy' failed: KeyError: 'source'"
    _, tasks = read_flow_run(state)
    messages = task_run_logs(next(t for t in tasks if t.name == "buggy").id)
    tracebacks = [m for m in messages if "Traceback (most recent call last)" in m]
    assert len(tracebacks) == 1, messages
    assert 'return [row["source"] for row in rows]' in tracebacks[0]
    assert tracebacks[0].count("Traceback (most recent call last)") == 1
    assert result.stages["buggy"].traceback
