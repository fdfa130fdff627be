"""The CLI against real Prefect: `run` on a server, `deploy` served and triggered, `up` started and stopped."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port
from tests.helpers.files import write_tree
from tests.helpers.processes import interrupt_group

pytestmark = pytest.mark.integration

PIPELINE = """
pipelines:
  notes:
    description: copy notes into a report
    params:
      source: {source}
      out: {out}
    schedule: {{cron: "30 7 * * 1-5", timezone: Europe/Paris}}
    tags: [test]
    stages:
      read:
        uses: loader.files
        with: {{path: "${{params.source}}", pattern: "*.md"}}
      stats:
        uses: python.call
        with: {{function: "components.docstats:document_stats"}}
        inputs: {{documents: read.output}}
      write:
        uses: sink.json
        with: {{path: "${{params.out}}"}}
        inputs: {{data: stats.output}}
  broken:
    stages:
      read:
        uses: loader.files
        with: {{path: /nonexistent/folder}}
"""


@pytest.fixture
def notes_project(tmp_path: Path) -> Path:
    docs = write_tree(tmp_path / "notes", {"a.md": "# Alpha\nsome words here\n", "b.md": "# Beta\nmore words\n"})
    path = tmp_path / "pipelines.yaml"
    path.write_text(PIPELINE.format(source=docs, out=tmp_path / "out" / "report.json"))
    return path


def cli_env(api: str) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": api, "PYTHONPATH": str(REPO)}


def dagwright(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flows.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_run_on_a_server_shows_stages_and_the_flow_run_url(prefect_api: str, notes_project: Path) -> None:
    done = dagwright("-f", str(notes_project), "run", "notes", env=cli_env(prefect_api))
    assert done.returncode == 0, done.stderr
    assert f"as a Prefect flow on {prefect_api}" in done.stdout
    for stage in ("read", "stats", "write"):
        assert any(line.startswith(stage) for line in done.stdout.splitlines())
    assert f"flow run: {prefect_api.removesuffix('/api')}/runs/flow-run/" in done.stdout
    report = json.loads((notes_project.parent / "out" / "report.json").read_text())
    assert [r["title"] for r in report] == ["Alpha", "Beta"]


def test_failed_run_exits_non_zero_with_a_reason_and_no_traceback(prefect_api: str, notes_project: Path) -> None:
    done = dagwright("-f", str(notes_project), "run", "broken", env=cli_env(prefect_api))
    assert done.returncode == 1
    assert "stage 'read' failed: LoaderError: loader.files: folder '/nonexistent/folder' does not exist" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_v_shows_the_failed_stages_traceback_under_its_line(prefect_api: str, notes_project: Path) -> None:
    done = dagwright("-f", str(notes_project), "run", "broken", "-v", env=cli_env(prefect_api))
    assert done.returncode == 1
    # Our own lines, not Prefect's log (which -v also shows): the stage's line, its reason, then the traceback.
    assert re.search(r"^read +FAILED .*\n +LoaderError: .*\nTraceback \(most recent call last\):", done.stdout, re.M)


def test_deploy_serves_scheduled_deployments_that_can_be_triggered(prefect_api: str, notes_project: Path) -> None:
    command = [sys.executable, "-m", "flows.cli", "-f", str(notes_project), "deploy", "notes"]
    server = subprocess.Popen(
        command,
        env=cli_env(prefect_api),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deployment = wait_for_deployment("notes/notes")
        assert deployment.parameters == {
            "source": str(notes_project.parent / "notes"),
            "out": str(notes_project.parent / "out" / "report.json"),
        }
        assert deployment.tags == ["test", "dagwright"]  # the tag marks deployments dagwright manages
        schedule = deployment.schedules[0].schedule
        assert (schedule.cron, schedule.timezone) == ("30 7 * * 1-5", "Europe/Paris")

        from prefect.deployments import run_deployment

        out = notes_project.parent / "triggered.json"
        flow_run = run_deployment("notes/notes", parameters={"out": str(out)}, timeout=150)
        assert flow_run.state.is_completed(), flow_run.state
        assert len(json.loads(out.read_text())) == 2
    finally:
        interrupt_group(server)  # serve pauses its schedules on the way out: slow on a loaded machine
    assert "notes/notes" in (server.stdout.read() if server.stdout else "")


def wait_for_deployment(name: str, timeout: float = 90):
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            try:
                return client.read_deployment_by_name(name)
            except ObjectNotFound:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def test_up_starts_a_server_with_its_ui_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DAGWRIGHT_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "flows.cli", "up", "--port", str(port)]
    up = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = up.stdout.readline() if up.stdout else ""
        assert first.strip() == f"Prefect server and UI: http://127.0.0.1:{port}"
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=5) as response:
            assert response.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert b"<html" in response.read(2000).lower()  # the UI is served
        assert (tmp_path / "home" / "prefect").is_dir()  # its SQLite database lives in the project's home
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(60)
    rest = up.stdout.read() if up.stdout else ""
    assert code == 0, rest
    assert "Prefect server stopped." in rest
