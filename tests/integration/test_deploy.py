"""`dagwright deploy` against a real Prefect server: idempotent, stale deployments removed, one pipeline at a
time, and a pause made in the UI survives a re-deploy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flows.execute.session import state_dir
from flows.language.load import load
from flows.plan.planner import plan_project
from flows.prefect.deploy import DAGWRIGHT_TAG, SCHEDULE_SLUG, PausedOnExit, apply_plans, pause_served
from tests.conftest import REPO
from tests.helpers.processes import interrupt_group

pytestmark = pytest.mark.integration

FN = "tests.helpers.stagefns"


def pipelines(*names: str, cron: str | None = "0 6 * * *") -> str:
    one = """
  {name}:
    description: numbers for {name}
    {schedule}
    tags: [nightly]
    stages:
      nums: {{uses: python.call, with: {{function: "{fn}:numbers"}}}}
"""
    schedule = f'schedule: {{cron: "{cron}", timezone: UTC}}' if cron else ""
    return "pipelines:" + "".join(one.format(name=name, schedule=schedule, fn=FN) for name in names)


def deploy(path: Path, text: str, only: list[str] | None = None) -> list[Any]:
    """What `dagwright deploy` does before it serves: apply the file's (or ``only``'s) deployments."""
    path.write_text(text)
    plans = plan_project(load(path))
    chosen = [plans[n] for n in (only or plans)]
    return apply_plans(plans, chosen, record_of(path))


def record_of(path: Path) -> PausedOnExit:
    import os

    return PausedOnExit(state_dir(path.parent) / "deploy-paused.json", os.environ["PREFECT_API_URL"])


def server_deployments() -> dict[str, Any]:
    """Every deployment on the server, by flow/name (not only ours: duplicates would show here)."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        deployments = client.read_deployments()
        flows = {f.id: f.name for f in client.read_flows()}
    names = [f"{flows[d.flow_id]}/{d.name}" for d in deployments]
    assert len(names) == len(set(names)), names
    return {name: d for name, d in zip(names, deployments, strict=True)}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path / "pipelines.yaml"


def test_deploying_twice_changes_nothing_and_creates_no_duplicates(prefect_api: str, project: Path) -> None:
    first = deploy(project, pipelines("dep-a", "dep-b"))
    before = server_deployments()
    second = deploy(project, pipelines("dep-a", "dep-b"))
    after = server_deployments()
    assert first == second
    assert before.keys() == after.keys()
    for name in ("dep-a/dep-a", "dep-b/dep-b"):
        old, new = before[name], after[name]
        assert (new.id, new.version, new.tags, new.paused) == (old.id, old.version, old.tags, old.paused)
        assert [(s.id, s.slug, s.active, s.schedule) for s in new.schedules] == [
            (s.id, s.slug, s.active, s.schedule) for s in old.schedules
        ]
        assert new.tags == ["nightly", DAGWRIGHT_TAG] and new.schedules[0].slug == SCHEDULE_SLUG


def test_a_pipeline_removed_from_the_file_has_its_deployment_removed(prefect_api: str, project: Path) -> None:
    deploy(project, pipelines("gone-a", "gone-b"))
    foreign = _untagged_deployment("not-ours")
    deploy(project, pipelines("gone-a"))
    names = server_deployments().keys()
    assert "gone-a/gone-a" in names and "gone-b/gone-b" not in names
    assert "not-ours/not-ours" in names, "a deployment dagwright did not create is never removed"
    assert foreign


def _untagged_deployment(name: str) -> Any:
    from prefect import flow

    @flow(name=name)
    def other() -> None:
        pass

    return other.to_deployment(name=name).apply()


def test_deploy_one_pipeline_leaves_the_others_alone(prefect_api: str, project: Path) -> None:
    deploy(project, pipelines("one-a", "one-b"))
    before = server_deployments()
    deploy(project, pipelines("one-a", "one-b", cron="0 7 * * *"), only=["one-a"])
    after = server_deployments()
    assert after["one-a/one-a"].schedules[0].schedule.cron == "0 7 * * *"  # changed in place
    assert after["one-a/one-a"].schedules[0].id == before["one-a/one-a"].schedules[0].id
    assert after["one-b/one-b"].schedules[0].schedule.cron == "0 6 * * *"  # not deployed this time: untouched


def test_a_schedule_removed_from_the_file_is_removed_from_the_deployment(prefect_api: str, project: Path) -> None:
    deploy(project, pipelines("sched-gone"))
    deploy(project, pipelines("sched-gone", cron=None))
    assert server_deployments()["sched-gone/sched-gone"].schedules == []


def test_a_schedule_or_deployment_paused_in_the_ui_stays_paused(prefect_api: str, project: Path) -> None:
    from prefect import get_client

    ids = dict(
        zip(["p-sched", "p-whole", "p-ours"], deploy(project, pipelines("p-sched", "p-whole", "p-ours")), strict=True)
    )
    with get_client(sync_client=True) as client:
        schedule = client.read_deployment(ids["p-sched"]).schedules[0]
        client.update_deployment_schedule(ids["p-sched"], schedule.id, active=False)  # its toggle in the UI
        client.pause_deployment(ids["p-whole"])  # the deployment's own toggle
    pause_served([ids["p-ours"], ids["p-whole"]], record_of(project))  # serving stopped: it pauses what it served
    deploy(project, pipelines("p-sched", "p-whole", "p-ours"))
    after = server_deployments()
    assert after["p-sched/p-sched"].schedules[0].active is False
    assert after["p-sched/p-sched"].schedules[0].id == schedule.id
    assert after["p-whole/p-whole"].paused is True  # paused in the UI before serving stopped: still paused
    assert after["p-ours/p-ours"].paused is False  # paused by the shutdown: resumed
    assert record_of(project).ids() == set()


def test_cli_deploy_pipeline_serves_only_that_one_and_pauses_it_on_exit(prefect_api: str, project: Path) -> None:
    project.write_text(pipelines("cli-a", "cli-b"))
    command = [sys.executable, "-m", "flows.cli", "-f", str(project), "deploy", "--pipeline", "cli-a"]
    server = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output = ""
        for line in server.stdout or []:
            output += line
            if line.startswith("serving them"):
                break
        names = server_deployments().keys()
        assert "cli-a/cli-a" in names and "cli-b/cli-b" not in names, output
    finally:
        interrupt_group(server)
    assert "deployed cli-a/cli-a" in output
    after = server_deployments()["cli-a/cli-a"]
    assert after.paused is True  # nothing serves it now, so its schedule makes no runs that would pile up
    recorded = json.loads((state_dir(project.parent) / "deploy-paused.json").read_text())
    assert recorded == {prefect_api: [str(after.id)]}
