"""Secrets never leave the engine: values read with `${env:...}` and `secret: true` params are masked in every
message, log line, state, artifact and event, under both executors (issue 8).

One pipeline fails four ways, each quoting a secret: a DSN without its `postgresql://` prefix (the driver quotes
it), a prompts folder read from the environment (the error names the folder), a component that raises with its
env-read argument in its message and its cause, and one that raises with a secret param. Then every place a run
leaves text is read as bytes: the CLI's output, DAGWRIGHT_HOME, and the Prefect server's whole home (its SQLite
database, write-ahead log included).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers.files import write_tree

PASSWORD = "Right-Pw-7f3a9c1e2b"
DSN = f"postgres:{PASSWORD}@127.0.0.1:9/dagwright"  # no postgresql:// prefix: the driver quotes it back
FOLDER = "sk-SUPERSECRET-7f3a9c1e2b"
TOKEN = "tok-ENVSECRET-5d1e8a"
PARAM = "par-PARAMSECRET-93bc07"
SECRETS = [PASSWORD, DSN, FOLDER, TOKEN, PARAM]

PIPELINE = """
resources:
  vec: {uses: store.pgvector, with: {dsn: "${env:DW_FAULT_DSN}", collection: faults}}
  llm: {uses: llm.openai, with: {base_url: "http://127.0.0.1:9/v1"}}
pipelines:
  leaky:
    params:
      token: {type: string, secret: true}
      question: what is in the notes?
    stages:
      read:
        uses: loader.files
        with: {path: notes, pattern: "*.md"}
      index:
        uses: store.write
        with: {store: vec}
        inputs: {documents: read.output}
        checks: false
      answer:
        uses: generator.answer
        with: {prompts_dir: "${env:DW_FAULT_DIR}"}
        inputs: {question: "${params.question}", documents: read.output}
      call:
        uses: python.call
        with: {function: "tests.helpers.stagefns:reject_token", kwargs: {token: "${env:DW_FAULT_TOKEN}"}}
        retries: 1
      param:
        uses: python.call
        with: {function: "tests.helpers.stagefns:reject_token"}
        inputs: {token: "${params.token}"}
"""


def leaks(data: bytes) -> list[str]:
    """The secrets found in ``data``."""
    return [s for s in SECRETS if s.encode() in data]


def leaks_in_tree(root: Path) -> dict[str, list[str]]:
    """Every file under ``root`` that holds a secret, read as bytes, with the secrets found."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and (hit := leaks(path.read_bytes())):
            found[str(path)] = hit
    return found


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tree(tmp_path / "project" / "notes", {"a.md": "# Alpha\nsome words here\n"})
    path = tmp_path / "project" / "pipelines.yaml"
    path.write_text(PIPELINE)
    for name, value in (("DW_FAULT_DSN", DSN), ("DW_FAULT_DIR", FOLDER), ("DW_FAULT_TOKEN", TOKEN)):
        monkeypatch.setenv(name, value)
    return path


def dagwright(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flows.cli", "-f", str(project), "run", "leaky", "-p", f"token={PARAM}"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=300, cwd=REPO)


def assert_failed_for_each_reason(done: subprocess.CompletedProcess[str]) -> None:
    """Each stage failed where it quotes its secret, not earlier: the grep below is not vacuous."""
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "read             ok" in out, out
    assert re.search(r"^index +FAILED.*\n.*could not open: \w+Error: .*\*\*\*", out, re.M), out
    assert f"no prompt 'rag-answer' in ***/" in out, out
    assert re.search(r"^call +FAILED.*attempts 2\n +ValueError: token '\*\*\*' was rejected", out, re.M), out
    assert re.search(r"^param +FAILED.*\n +ValueError: token '\*\*\*' was rejected", out, re.M), out
    assert "retry    attempt 1 failed (ValueError: token '***' was rejected)" in out, out


def test_the_grep_finds_a_secret_that_is_there(tmp_path: Path, project: Path, isolated_home: Path) -> None:
    """The positive control: the values are really in the environment, and the same grep finds them in a file."""
    assert os.environ["DW_FAULT_DSN"] == DSN and os.environ["DW_FAULT_TOKEN"] == TOKEN
    planted = isolated_home / "deep" / "planted.log"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"prefix " + " ".join(SECRETS).encode() + b" suffix")
    assert leaks_in_tree(isolated_home) == {str(planted): SECRETS}


def test_in_process_run_shows_no_secret(project: Path, isolated_home: Path) -> None:
    done = dagwright(project, "--local", "-v")
    assert_failed_for_each_reason(done)
    assert "Traceback" in done.stdout  # -v shows the tracebacks, scrubbed
    assert leaks(done.stdout.encode()) == [] and leaks(done.stderr.encode()) == []
    assert leaks_in_tree(isolated_home) == {}


@pytest.mark.integration
@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_prefect_run_stores_no_secret(
    prefect_api: str, prefect_state: Path, project: Path, isolated_home: Path, verbose: bool
) -> None:
    done = dagwright(project, *(["-v"] if verbose else []))
    assert_failed_for_each_reason(done)
    run_id = re.search(r"/runs/flow-run/([0-9a-f-]{36})", done.stdout)
    assert run_id, done.stdout
    assert list(prefect_state.rglob("*.db")), "the server's database is not where the grep looks"
    wait_for_failed_event(prefect_state, run_id.group(1))
    assert leaks(done.stdout.encode()) == [] and leaks(done.stderr.encode()) == []
    assert leaks_in_tree(isolated_home) == {}
    assert leaks_in_tree(prefect_state) == {}


def wait_for_failed_event(home: Path, run_id: str, timeout: float = 60) -> None:
    """The server stores events a moment after it receives them: wait until the run's Failed event is in the
    database, so the grep reads the events too (and the logs, which the CLI sent before it exited)."""
    near = r".{0,4000}"
    pattern = re.compile(rf"prefect\.flow-run\.Failed{near}{run_id}|{run_id}{near}prefect\.flow-run\.Failed", re.S)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = b"".join(p.read_bytes() for p in home.rglob("*.db*") if p.is_file())
        if pattern.search(data.decode("utf-8", "replace")):
            return
        time.sleep(1)
    raise AssertionError(f"no Failed event for flow run {run_id} in {home} after {timeout:g}s")
