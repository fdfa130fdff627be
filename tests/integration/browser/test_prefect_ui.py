"""The Prefect UI as a data engineer uses it, in a real browser: the rag-query run form (descriptions, refused
values), a question run to completion, its answer on the run, and how a failed ingest reads.

Screenshots go to test-artifacts/ui/; look at them after a change to the UI's inputs (schema, artifacts, logs).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.integration.browser.conftest import shot, wait_for_final_state

pytestmark = [pytest.mark.integration, pytest.mark.browser]

QUESTION = "How does dagwright decide that a cached stage result can be reused?"
MISSING = "/nonexistent/dagwright-docs"


def open_run_form(page: Any, ui: str, deployment: str) -> None:
    """From the list of deployments, as a user goes: the deployment, Run, Custom run."""
    page.goto(f"{ui}/deployments")
    page.get_by_role("link", name=deployment, exact=True).first.click()
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run").click()
    page.locator(".schema-form-property").first.wait_for()


def prop(page: Any, name: str) -> Any:
    """Param ``name``'s part of the run form: label, description, input (the label reads 'name (Optional)'
    when the param has a default)."""
    text = re.compile(rf"^\s*{re.escape(name)}(\s+\(Optional\))?\s*$")
    label = page.locator(".schema-form-property__label", has_text=text)
    return page.locator(".schema-form-property").filter(has=label)


def field(page: Any, name: str) -> Any:
    return prop(page, name).locator("textarea, input").first


def submit(page: Any) -> None:
    page.get_by_role("button", name="Submit").click()


def view_submitted_run(page: Any) -> str:
    """Follow the toast of a submitted run to its page; the flow run's id."""
    # The UI mounts its toast layer twice; the last copy is the one on top that takes the click.
    page.locator(".p-toast-container").last.get_by_text("View run").click()
    page.wait_for_url(re.compile(r"/runs/flow-run/[0-9a-f-]+"))
    return page.url.split("/runs/flow-run/")[1].split("?")[0]


def refusal(page: Any) -> str:
    """The text of the error toast the form shows when the server refuses the run."""
    toast = page.locator(".p-toast__message").filter(has_text="Error creating flow run").last
    toast.wait_for()
    toast.hover()  # a toast stays while the pointer is on it, long enough for a screenshot on a busy machine
    return toast.inner_text()


def flow_runs_of(deployment: str) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        deployment_id = client.read_deployment_by_name(deployment).id
        return client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))


def test_the_run_form_describes_each_param_and_refuses_bad_values(served: str, page: Any) -> None:
    page.goto(f"{served}/deployments")
    page.get_by_role("link", name="rag-query", exact=True).first.wait_for()
    shot(page, "01-deployments")
    open_run_form(page, served, "rag-query")
    from playwright.sync_api import expect

    descriptions = [
        ("question", "The question to answer."),
        ("question", "Not blank, at most 1000 characters."),
        ("top_k", "How many passages to retrieve and cite."),
        ("top_k", "From 1 to 20."),
    ]
    for name, text in descriptions:  # each under its own field
        expect(prop(page, name).locator(".schema-form-property__description")).to_contain_text(text)
    shot(page, "02-run-form")
    before = len(flow_runs_of("rag-query/rag-query"))

    field(page, "question").fill(QUESTION)
    field(page, "top_k").fill("50")
    submit(page)
    assert "Validation failed for field 'top_k'. Failure reason: 50 is greater than the maximum of 20" in refusal(page)
    shot(page, "03-run-form-refuses-top-k-50")

    page.reload()  # a fresh form: the toast gone, the defaults back
    field(page, "question").fill("   ")
    submit(page)
    assert "Validation failed for field 'question'" in refusal(page)
    assert len(flow_runs_of("rag-query/rag-query")) == before  # refused before any run was created


@pytest.fixture(scope="module")
def answered(served: str, browser: Any) -> dict[str, Any]:
    """A question asked in the run form, followed to its run page until the run ends."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        open_run_form(page, served, "rag-query")
        field(page, "question").fill(QUESTION)
        field(page, "top_k").fill("3")
        shot(page, "04-run-form-filled")
        submit(page)
        flow_run = wait_for_final_state(view_submitted_run(page))
        badge = page.locator(".state-badge").first
        badge.filter(has_text=flow_run.state_name or "").wait_for()
        page.get_by_text("Beginning flow run").first.wait_for()  # the logs have loaded
        shot(page, "05-run-completed")
        return {"ui": served, "flow_run": flow_run, "badge": badge.inner_text()}
    finally:
        context.close()


def test_a_question_from_the_form_runs_to_completion(answered: dict[str, Any]) -> None:
    flow_run = answered["flow_run"]
    assert flow_run.state.is_completed(), flow_run.state
    assert answered["badge"].strip() == "Completed"
    assert flow_run.parameters == {"question": QUESTION, "top_k": 3}


def artifacts_of(flow_run_id: Any) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def test_the_answer_and_its_sources_are_visible_on_the_run(answered: dict[str, Any], page: Any) -> None:
    """Issue 9, problem 1: the answer is a markdown artifact on the flow run, with the passages it cites."""
    flow_run = answered["flow_run"]
    answers = [a for a in artifacts_of(flow_run.id) if a.type == "markdown" and "Sources" in str(a.data)]
    assert answers, "no markdown artifact with the answer and its sources on the rag-query run"
    sources = re.findall(r"[\w-]+\.(?:md|rst|html)\b", str(answers[0].data))
    assert sources, answers[0].data  # the passages it cites name the files they come from
    page.goto(f"{answered['ui']}/artifacts/artifact/{answers[0].id}")
    page.get_by_text(sources[0]).first.wait_for()  # rendered in the UI, not only stored
    shot(page, "06-run-answer-artifact")


def test_a_failed_ingest_reads_well(served: str, page: Any) -> None:
    """Issue 9, problem 3: the failed stage with its reason, the stages it prevented shown as skipped and named
    after their stage, and no traceback from the engine itself."""
    open_run_form(page, served, "rag-ingest")
    field(page, "source").fill(MISSING)
    submit(page)
    flow_run = wait_for_final_state(view_submitted_run(page))
    page.locator(".state-badge").first.filter(has_text="Failed").wait_for()
    page.get_by_text(MISSING).first.wait_for()  # the logs have loaded
    shot(page, "07-failed-ingest-logs")
    assert flow_run.state.is_failed()
    assert "stage 'load' failed" in (flow_run.state.message or "") and MISSING in (flow_run.state.message or "")

    tasks = task_runs_of(flow_run.id)
    assert sorted(tasks) == ["chunk", "embed", "index", "load"]  # named after their stage: no random suffix
    assert tasks["load"].state.is_failed()
    for stage in ("chunk", "embed", "index"):
        assert tasks[stage].state_name == "Skipped", (stage, tasks[stage].state)
        assert "load" in (tasks[stage].state.message or ""), tasks[stage].state

    logs = logs_of(flow_run.id)
    assert not [r for r in logs if "Engine execution exited with unexpected exception" in r.message]
    tracebacks = [r for r in logs if "Traceback (most recent call last)" in r.message]
    assert all(r.task_run_id == tasks["load"].id for r in tracebacks), "a traceback outside the failed stage's log"
    assert len(tracebacks) <= 1

    from playwright.sync_api import expect

    page.get_by_text("Task Runs", exact=True).first.click()
    expect(page.locator(".state-badge").filter(has_text=re.compile(r"^\s*Skipped\s*$"))).to_have_count(3)
    expect(page.get_by_text("NotReady")).to_have_count(0)
    shot(page, "08-failed-ingest-task-runs")


def task_runs_of(flow_run_id: Any) -> dict[str, Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {run.name: run for run in runs}


def logs_of(flow_run_id: Any) -> list[Any]:
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    with get_client(sync_client=True) as client:
        return client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
