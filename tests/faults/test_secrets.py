"""Secrets never leave the engine: values read with `${env:...}` and `secret: true` params are masked in every
message, log line, state, artifact and event, under both executors (issue 8).

One pipeline fails four ways, each quoting a secret: a DSN without its `postgresql://` prefix (the driver quotes
it), a prompts folder read from the environment (the error names the folder), a component that raises with its
env-read argument in its message and its cause, and one that raises with a secret param. Then every place a run
leaves text is read as bytes: the CLI's output, DAGWRIGHT_HOME, and the Prefect server's whole home (its SQLite
database, write-ahead log included).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import time
import traceback
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
    assert "no prompt 'rag-answer' in ***/" in out, out
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


# The pieces, without a run.


def test_a_dsn_is_masked_whole_and_its_password_alone() -> None:
    from flows.execute.secrets import Secrets

    secrets = Secrets.of([f"postgresql://{DSN}", "host=db password=Pw-abc123 user=u"])
    assert secrets.scrub(f"bad dsn {DSN!r}") == "bad dsn 'postgres:***@127.0.0.1:9/dagwright'"
    assert secrets.scrub(f'invalid connection option "postgres:{PASSWORD}@/x"') == (
        'invalid connection option "postgres:***@/x"'
    )
    assert secrets.scrub("auth failed for Pw-abc123") == "auth failed for ***"
    assert Secrets.of(["abc", ""]).scrub("abc") == "abc"  # too short to mask without masking everything


def test_escaped_forms_of_a_value_are_masked_too() -> None:
    from flows.execute.secrets import Secrets

    value = 'sk-"quoted"\\slash'
    secrets = Secrets.of([value])
    assert secrets.scrub(repr(value)) == "'***'"
    assert secrets.scrub(json.dumps({"key": value})) == '{"key": "***"}'


def test_a_run_s_secrets_are_the_env_values_it_reads_and_its_secret_params(plan_of) -> None:
    from flows.execute.secrets import secrets_of_run

    plan = plan_of(
        """
        pipelines:
          p:
            params: {token: {secret: true}, plain: value-not-secret}
            stages:
              a:
                uses: python.call
                with: {function: "tests.helpers.stagefns:reject_token", kwargs: {token: "${env:DW_A}/sub"}}
        """
    )
    env = {"DW_A": "env-value-a", "DW_UNUSED": "env-value-unused"}
    secrets = secrets_of_run(plan, {"token": "param-value", "plain": "value-not-secret"}, env)
    assert secrets.scrub("env-value-a param-value env-value-unused value-not-secret") == (
        "*** *** env-value-unused value-not-secret"
    )


def test_a_scrubbed_exception_keeps_the_type_name_and_frames_but_not_the_causes() -> None:
    from flows.execute.secrets import ScrubbedError, Secrets, scrubbed_exception

    secrets = Secrets.of([TOKEN])
    try:
        raise ValueError("in the cause only") from LookupError(TOKEN)
    except ValueError as exc:
        shown = scrubbed_exception(exc, secrets, retryable=False)
        clean = scrubbed_exception(KeyError("nothing secret"), secrets, retryable=True)
    assert isinstance(shown, ScrubbedError) and str(shown) == "ValueError: in the cause only"
    assert shown.__cause__ is None and shown.__traceback__ is not None and not shown.retryable
    assert TOKEN not in "".join(traceback.format_exception(shown))
    assert isinstance(clean, KeyError)  # nothing to hide: Prefect sees the exception itself


def test_the_log_filter_masks_messages_and_tracebacks() -> None:
    from flows.execute.secrets import Secrets, scrubbed_logs

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("dagwright.test-secrets")
    logger.addHandler(handler)
    try:
        with scrubbed_logs(Secrets.of([TOKEN])):
            try:
                raise RuntimeError(f"failed with {TOKEN}")
            except RuntimeError:
                logger.exception("stage saw %s", TOKEN)
        logger.error("after the run: %s", "not masked any more")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert TOKEN not in text and "stage saw ***" in text and "RuntimeError: failed with ***" in text
    assert "after the run: not masked any more" in text


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ("{type: integer, secret: true}", "a secret param is a string, not integer"),
        ("{default: abc, secret: true}", "a secret param has no default (secrets never go in the YAML)"),
    ],
)
def test_a_secret_param_is_a_string_given_at_run_time(plan_of, declaration: str, message: str) -> None:
    from flows.errors import SpecError

    with pytest.raises(SpecError, match=re.escape(message)):
        plan_of(
            f"pipelines:\n  p:\n    params: {{token: {declaration}}}\n    stages: {{a: {{uses: python.call, "
            f'with: {{function: "tests.helpers.stagefns:numbers"}}}}}}\n'
        )


def test_a_wrong_secret_param_is_refused_without_showing_it(plan_of) -> None:
    from flows.errors import ParamError

    plan = plan_of(
        """
        pipelines:
          p:
            params: {token: {secret: true, enum: [the-only-one]}}
            stages: {a: {uses: python.call, with: {function: "tests.helpers.stagefns:numbers"}}}
        """
    )
    with pytest.raises(ParamError) as caught:
        plan.bind_params({"token": PARAM})
    assert PARAM not in str(caught.value) and "'***' is not one of" in str(caught.value)


def test_a_secret_param_is_a_secret_flow_parameter(plan_of) -> None:
    from pydantic import SecretStr

    from flows.prefect.executor import build_flow, flow_arguments

    plan = plan_of(
        """
        pipelines:
          p:
            params: {token: {secret: true}, n: 1}
            stages: {a: {uses: python.call, with: {function: "tests.helpers.stagefns:numbers"}}}
        """
    )
    flow = build_flow(plan)
    assert flow.parameters.properties["token"]["format"] == "password"
    arguments = flow_arguments(plan, {"token": PARAM, "n": 1})
    assert isinstance(arguments["token"], SecretStr) and arguments["n"] == 1
    assert PARAM not in str(flow.serialize_parameters(arguments))


def test_a_check_that_quotes_a_secret_shows_it_masked(plan_of, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.execute.local import run_local
    from flows.execute.report import ConsoleReporter

    monkeypatch.setenv("DW_FAULT_TOKEN", TOKEN)
    plan = plan_of(
        """
        pipelines:
          p:
            stages:
              warned:
                uses: python.call
                with: {function: "tests.helpers.stagefns:frame_of", kwargs: {value: "${env:DW_FAULT_TOKEN}"}}
                on_fail: warn
                checks: {outputs: {output: [{expect_column_values_to_be_in_set: {column: key, value_set: [a]}}]}}
              stopped:
                uses: python.call
                with: {function: "tests.helpers.stagefns:frame_of", kwargs: {value: "${env:DW_FAULT_TOKEN}"}}
                checks: {outputs: {output: [{expect_column_values_to_be_in_set: {column: key, value_set: [a]}}]}}
        """
    )
    stream = io.StringIO()
    result = run_local(plan, reporter=ConsoleReporter(stream), use_cache=False)
    text = stream.getvalue()
    assert "1 of 1 rows unexpected, e.g. ['***']" in text, text
    assert result.stages["stopped"].status == "failed" and "***" in (result.stages["stopped"].error or "")
    assert TOKEN not in text + str(result.stages["stopped"].error) + str(result.stages["warned"].gates)
