"""What a flow run shows besides its logs: one artifact per gated stage, its run summary and its final outputs;
and the JSON data its persisted result holds.

They are created when the stages are done, in stage order, then the summary, then the final outputs: so their
creation times read in the order of the pipeline whatever order concurrent stages finished in. (The UI's
flow-run Artifacts tab sorts by artifact id, which the server draws at random (uuid4), so it cannot be given an
order there.) Keys name the pipeline and the stage (`rag-ingest-load-gate`), so an artifact's history on the
Artifacts page holds the runs of one pipeline only.
"""

from __future__ import annotations

import re
from typing import Any

from flows.execute.outputs import FinalOutput, final_outputs, output_markdown, output_table, scrub_data
from flows.execute.report import gate_rows, gates_description, summary_markdown, summary_rows
from flows.execute.runtime import RunResult
from flows.execute.secrets import Secrets
from flows.plan.planner import Plan


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key (lowercase letters, digits and dashes) made of ``parts``."""
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def publish_run(
    plan: Plan, result: RunResult, gates: dict[str, list[Any]], task_runs: dict[str, Any], secrets: Secrets
) -> None:
    """Every artifact of the run, in the order of the module's docstring."""
    for stage in plan.stages:
        if gates.get(stage.id):
            _publish_gates(plan.name, stage.id, gates[stage.id], task_runs.get(stage.id))
    _publish_summary(result, secrets)
    for output in final_outputs(plan, result):
        _publish_output(plan.name, output, task_runs.get(output.stage), secrets)


def _publish_gates(pipeline: str, stage: str, reports: list[Any], task_run_id: Any) -> None:
    """One table per gated stage, its input and output checks together, on the stage's task run. The reports
    come scrubbed (flows/execute/runtime.py masks them before any hook sees them)."""
    from prefect.artifacts import TableArtifact

    TableArtifact(
        key=artifact_key(pipeline, stage, "gate"),
        table=[row for report in reports for row in gate_rows(report)],
        description=gates_description(pipeline, stage, reports),
        task_run_id=task_run_id,
    ).create()


def _publish_summary(result: RunResult, secrets: Secrets) -> None:
    from prefect.artifacts import TableArtifact

    TableArtifact(
        key=artifact_key(result.pipeline, "summary"),
        table=scrub_data(summary_rows(result), secrets),
        description=secrets.scrub(summary_markdown(result)),
    ).create()


def _publish_output(pipeline: str, output: FinalOutput, task_run_id: Any, secrets: Secrets) -> None:
    """A final output as its value declares: a table when it gives rows, else markdown."""
    from prefect.artifacts import MarkdownArtifact, TableArtifact

    key = artifact_key(pipeline, output.stage, output.port)
    description = f"Final output `{output.label}` of {pipeline}"
    rows = output_table(output.value)
    if rows is not None:
        table = scrub_data(rows, secrets)
        TableArtifact(key=key, table=table, description=description, task_run_id=task_run_id).create()
    else:
        markdown = secrets.scrub(output_markdown(output.value))
        MarkdownArtifact(key=key, markdown=markdown, description=description, task_run_id=task_run_id).create()
