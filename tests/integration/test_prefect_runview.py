"""How a flow run reads in the Prefect UI, checked through the API the UI reads: final outputs as artifacts and as
the persisted result, failures without Prefect's echoes, skipped stages by name, deterministic errors not retried,
one artifact per gated stage in reading order, real timings, readable run names."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from flows.execute.runtime import RunResult
from flows.prefect.executor import build_flow
from tests.helpers.pipelines import FAILING_BRANCHES, FN, nums_then

pytestmark = pytest.mark.integration


def run_flow(plan: Any, **params: Any) -> tuple[Any, RunResult]:
    results: list[RunResult] = []
    state = build_flow(plan, results=results)(**params, return_state=True)
    return state, results[-1]


def task_runs(flow_run_id: Any) -> dict[str, Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        found = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {t.name: t for t in found}


def run_logs(flow_run_id: Any) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # the run's log lines are sent in batches
    with get_client(sync_client=True) as client:
        log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        return client.read_logs(log_filter=log_filter, sort=LogSort.TIMESTAMP_ASC)


def artifacts_as_the_ui_lists_them(flow_run_id: Any) -> list[Any]:
    """The flow run's artifacts as the UI's Artifacts tab queries them: results left out, newest (id) first."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        artifact_filter = ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]), type=ArtifactFilterType(not_any_=["result"])
        )
        return client.read_artifacts(artifact_filter=artifact_filter, sort=ArtifactSort.ID_DESC)


def table(artifact: Any) -> Any:
    return json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data


FINAL_OUTPUTS = f"""
pipelines:
  p:
    stages:
      nums: {{uses: python.call, with: {{function: "{FN}:numbers"}}}}
      ask:
        uses: python.call
        with: {{function: "{FN}:reply", kwargs: {{cites: 2}}}}
      report:
        uses: python.call
        with: {{function: "{FN}:index_report"}}
        inputs: {{values: nums.output}}
"""


def test_final_outputs_are_artifacts_as_declared_and_the_persisted_json_result(prefect_api: str, plan_of) -> None:
    from prefect import get_client

    state, _ = run_flow(plan_of(FINAL_OUTPUTS))
    assert state.is_completed(), state.message
    flow_run_id = state.state_details.flow_run_id
    by_key = {a.key: a for a in artifacts_as_the_ui_lists_them(flow_run_id)}
    answer, report = by_key["p-ask-reply"], by_key["p-report-report"]
    assert answer.type == "markdown" and answer.data == "forty-two\n\n- doc0.md\n- doc1.md"  # as Reply declares
    assert answer.description == "Final output `ask.reply` of p"
    assert report.type == "table" and table(report)[-1] == {"count": "chunks_total", "value": 6}
    assert answer.task_run_id == task_runs(flow_run_id)["ask"].id

    expected = {"ask.reply": {"body": "forty-two", "cites": ["doc0.md", "doc1.md"]}, "report.report": {}}
    expected["report.report"] = {"sources_new": 3, "sources_changed": 0, "sources_unchanged": 0}
    expected["report.report"] |= {"sources_removed": 0, "chunks_written": 6, "chunks_deleted": 0, "chunks_total": 6}
    # Read back as an API caller does, from the server's record of the run, not from this process's state.
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(flow_run_id).state
    data = stored.result()
    assert data["status"] == "completed" and data["outputs"] == expected
    assert json.loads(Path(stored.data.storage_key).read_text()) == data  # plain JSON on disk, not a pickle


def test_a_failed_run_shows_the_failed_stage_and_the_skipped_ones_by_name(prefect_api: str, plan_of) -> None:
    state, result = run_flow(plan_of(FAILING_BRANCHES))
    assert state.is_failed()
    assert state.message == "pipeline 'p': stage 'broken' failed: ValueError: boom: this stage always fails"
    runs = task_runs(state.state_details.flow_run_id)
    assert sorted(runs) == ["after_broken", "broken", "healthy", "later", "nums"]  # no random suffixes
    for skipped in ("after_broken", "later"):  # `later` only waits for after_broken: the reason names the cause
        assert runs[skipped].state.name == "Skipped" and runs[skipped].state.type.value == "CANCELLED"
        assert runs[skipped].state.message == "not run: stage 'broken' failed"
        assert result.stages[skipped].error == "not run: stage 'broken' failed"
    assert runs["broken"].state.is_failed()
    # The run's graph keeps its edges, from a failed stage and from a skipped one.
    assert [i.id for i in runs["after_broken"].task_inputs["upstream"]] == [runs["broken"].id]
    assert [i.id for i in runs["later"].task_inputs["upstream"]] == [runs["after_broken"].id]

    logs = run_logs(state.state_details.flow_run_id)
    text = "\n".join(log.message for log in logs)
    assert "NotReady" not in text and "Upstream task run" not in text
    tracebacks = [log for log in logs if "Traceback (most recent call last)" in log.message]
    assert len(tracebacks) == 1 and tracebacks[0].task_run_id == runs["broken"].id
    assert "site-packages/prefect" not in tracebacks[0].message  # from the stage's code down, no engine frames
    assert [log.level for log in logs if log.task_run_id == runs["broken"].id] == [40]
    skip_lines = [log.message for log in logs if log.task_run_id == runs["later"].id]
    assert skip_lines == ["later            skipped  not run: stage 'broken' failed"]  # on its own task run


def test_the_engine_logs_no_traceback_when_a_deployment_run_fails(prefect_api: str, plan_of) -> None:
    """A deployment's flow-run process runs the flow with `run_flow(..., error_logger=...)` (prefect.engine),
    which raises for a Failed run and logs "Engine execution exited with unexpected exception" with a traceback."""
    from prefect import get_client
    from prefect.exceptions import FailedRun
    from prefect.flow_engine import run_flow as engine_run_flow
    from prefect.logging.loggers import flow_run_logger

    flow = build_flow(plan_of(FAILING_BRANCHES))
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(flow, parameters={})
    with pytest.raises(FailedRun):
        engine_run_flow(flow, flow_run=flow_run, error_logger=flow_run_logger(flow_run=flow_run))
    messages = [log.message for log in run_logs(flow_run.id)]
    assert not any("Engine execution exited" in m for m in messages), messages
    assert messages[-1].startswith("Finished in state Failed(\"pipeline 'p': stage 'broken' failed")


@pytest.mark.usefixtures("project_in_tmp_path")
@pytest.mark.parametrize(
    ("kind", "stage", "reason"),
    [
        ("missing input", "{uses: loader.files, with: {path: missing-folder}}", "LoaderError: loader.files: folder"),
        ("configuration", '{uses: loader.files, with: {path: "${env:DAGWRIGHT_TEST_UNSET}"}}', "StageParamsError"),
        (
            "validation",
            f'{{uses: python.call, with: {{function: "{FN}:validate_limits", kwargs: {{values: [5]}}}}}}',
            "ValidationError",
        ),
    ],
)
def test_a_deterministic_error_fails_at_once_with_one_error(
    prefect_api: str, plan_of, kind: str, stage: str, reason: str
) -> None:
    plan = plan_of(f"""
        defaults: {{retries: 2, retry_delay: 20s}}
        pipelines:
          p:
            stages:
              first: {stage}
              after: {{uses: python.call, with: {{function: "{FN}:noop"}}, after: [first]}}
        """)
    started = time.monotonic()
    state, result = run_flow(plan)
    assert state.is_failed() and time.monotonic() - started < 20, kind  # no retry delay waited out
    assert reason in (result.stages["first"].error or "") and result.stages["first"].attempts == 1
    runs = task_runs(state.state_details.flow_run_id)
    assert runs["first"].run_count == 1
    logs = run_logs(state.state_details.flow_run_id)
    loud = [(log.level, log.message.splitlines()[0]) for log in logs if log.level >= 30]
    assert len(loud) == 1 and loud[0][0] == 40, loud  # one ERROR; no WARNING, no retry INFO
    assert loud[0][1].startswith("first            FAILED")
    assert not any("Retry" in log.message or "retrying" in log.message for log in logs)


@pytest.mark.usefixtures("project_in_tmp_path")
def test_one_described_artifact_per_gated_stage_keyed_by_pipeline_and_in_reading_order(
    prefect_api: str, plan_of, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nwords\n")
    plan = plan_of(
        f"""
        pipelines:
          notes-report:
            stages:
              second: {{uses: loader.files, with: {{path: "{docs}"}}, after: [first]}}
              first: {{uses: loader.files, with: {{path: "{docs}"}}}}
              chunk:
                uses: chunker.sections
                inputs: {{documents: second.output}}
                checks: {{inputs: {{documents: [unique_ids]}}, outputs: {{output: [unique_ids]}}}}
        """,
        "notes-report",
    )
    state, _ = run_flow(plan)
    assert state.is_completed(), state.message
    listed = sorted(artifacts_as_the_ui_lists_them(state.state_details.flow_run_id), key=lambda a: a.created)
    # The gated stages in stage order (second runs after first, though it comes first in the YAML), the run
    # summary, the final output; one artifact per gated stage, though `chunk` checks its inputs and its outputs.
    assert [a.key for a in listed] == [
        "notes-report-first-gate",
        "notes-report-second-gate",
        "notes-report-chunk-gate",
        "notes-report-summary",
        "notes-report-chunk-output",
    ]
    assert all(a.description for a in listed)
    first = listed[0]
    assert first.type == "table" and first.description.startswith("Checks of stage **first** (notes-report): 4 of 4")
    assert first.task_run_id == task_runs(state.state_details.flow_run_id)["first"].id
    assert [r["port"] for r in table(listed[2])] == ["inputs.documents", "outputs.output"]
    assert listed[3].description.startswith("**notes-report** completed in")


def test_a_timed_out_stage_stops_at_its_timeout_and_shows_its_real_duration(prefect_api: str, plan_of) -> None:
    plan = plan_of(nums_then("slow", "sleep", "{seconds: 5}", timeout=0.5))
    started = time.monotonic()
    state, result = run_flow(plan)
    assert time.monotonic() - started < 4.5  # stopped at its timeout, not when the sleep ended
    slow = result.stages["slow"]
    assert slow.error == "StageTimeout: stage 'slow' timed out after 0.5s"
    assert 0.45 <= slow.seconds < 2
    summary = next(a for a in artifacts_as_the_ui_lists_them(state.state_details.flow_run_id) if a.key == "p-summary")
    assert next(r for r in table(summary) if r["stage"] == "slow")["seconds"] >= 0.45


def test_flow_runs_are_named_after_the_pipeline_and_its_key_params_never_a_secret(prefect_api: str, plan_of) -> None:
    from prefect import get_client

    plan = plan_of(
        f"""
        pipelines:
          rag-query:
            params:
              question: {{type: string}}
              top_k: {{type: integer, default: 4}}
              token: {{type: string, secret: true}}
            stages:
              nums: {{uses: python.call, with: {{function: "{FN}:numbers"}}}}
        """,
        "rag-query",
    )
    from flows.prefect.executor import flow_arguments

    params = flow_arguments(plan, {"question": "How does caching work when the index changes?", "token": "t0ps3cret"})
    state, _ = run_flow(plan, **params, top_k=6)
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.name == "rag-query: How does caching work when the index…, top_k=6"
    assert "t0ps3cret" not in flow_run.name


def test_a_secret_in_a_final_output_is_masked_in_its_artifact_and_the_persisted_result(
    prefect_api: str, plan_of
) -> None:
    from flows.prefect.executor import flow_arguments

    plan = plan_of(f"""
        pipelines:
          p:
            params: {{token: {{type: string, secret: true}}}}
            stages:
              hello:
                uses: python.call
                with: {{function: "{FN}:greet"}}
                inputs: {{name: "${{params.token}}"}}
        """)
    state, _ = run_flow(plan, **flow_arguments(plan, {"token": "t0ps3cret-42"}))
    assert state.is_completed(), state.message
    shown = {a.key: a for a in artifacts_as_the_ui_lists_them(state.state_details.flow_run_id)}["p-hello-output"]
    assert "t0ps3cret" not in shown.data and "hello ***" in shown.data
    data = state.result()
    assert data["outputs"] == {"hello.output": "hello ***"}
    assert "t0ps3cret" not in Path(state.data.metadata.storage_key).read_text()
