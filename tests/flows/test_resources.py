"""Resources: declared once, checked at plan time, opened once per process and shared by stages and threads,
closed at exit, folded into cache keys by identity; profiles swap them without touching the pipelines."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from flows.cli import main
from flows.execute.local import run_local
from flows.execute.session import close_session, current_session, resolve_resource
from flows.language.load import load
from flows.plan.planner import plan_pipeline
from tests.helpers.files import write_tree

COMPONENTS = '''
import threading, time
from typing import Annotated
from pydantic import Field
from components.base import Component, ComponentParams
from components.resources import Resource, Uses

EVENTS: list[str] = []


class CounterSettings(ComponentParams):
    label: str = "a"
    token: str = ""
    fail: bool = False
    fail_close: bool = False
    interrupt_close: bool = False


class Counter(Resource[CounterSettings]):
    """A resource that records when it opens and closes."""
    name = "test.counter"
    kind = "counter"

    def open(self) -> None:
        if self.params.fail:  # as a driver does, quoting its connection string
            raise RuntimeError(f'missing "=" after "{self.params.token}" in connection info string')
        time.sleep(0.2)  # a slow open: threads arriving meanwhile must wait for this one, not open another
        EVENTS.append(f"open {self.params.label}")

    def close(self) -> None:
        if self.params.fail_close:
            raise RuntimeError(f"cannot close the session of {self.params.token}")
        if self.params.interrupt_close:  # a Ctrl-C arriving while this one closes
            raise KeyboardInterrupt
        EVENTS.append(f"close {self.params.label}")


class UseParams(ComponentParams):
    counter: Annotated[str, Uses(Counter)] = "counter"


class UseCounter(Component[UseParams]):
    name = "test.use"

    def run(self, x: int) -> str:
        resource = self.resources.get(self.params.counter, Counter)
        return f"{resource.params.label}:{id(resource)}:{x}"
'''

PIPELINES = """
resources:
  counter: {uses: test.counter, with: {label: LABEL, token: "${env:DW_TEST_TOKEN}"}}
  other: {uses: test.counter, with: {label: other}}
profiles:
  alt:
    resources:
      counter: {uses: test.counter, with: {label: alt}}
pipelines:
  p:
    defaults: {retries: 2}
    stages:
      one: {uses: test.use, inputs: {x: "${params.n}"}}
      two: {uses: test.use, inputs: {x: "${params.m}"}}
      three: {uses: test.use, with: {counter: other}, inputs: {x: "${params.n}"}}
    params:
      n: 1
      m: 2
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DW_TEST_TOKEN", "tok-S3CRET-42")
    root = write_tree(
        tmp_path / "project",
        {"components/__init__.py": "", "components/counting.py": COMPONENTS, "pipelines.yaml": PIPELINES},
    )
    set_label(root, "a")
    yield root
    close_session()


def set_label(root: Path, label: str) -> None:
    (root / "pipelines.yaml").write_text(textwrap.dedent(PIPELINES).replace("LABEL", label))


def events() -> list[str]:
    import sys

    return sys.modules["dagwright_project_components.counting"].EVENTS


def plan(root: Path, profile: str | None = None):
    return plan_pipeline(load(root / "pipelines.yaml", profile), "p")


def test_a_resource_opens_once_per_process_shared_by_stages_and_threads_and_closes_at_exit(project: Path) -> None:
    first = run_local(plan(project)).raise_for_status()
    second = run_local(plan(project), {"n": 5}).raise_for_status()
    ids = {r.outputs["output"].split(":")[1] for r in [first.stages["one"], first.stages["two"], second.stages["one"]]}
    assert len(ids) == 1  # one object for parallel stages and for the next run
    assert sorted(events()) == ["open a", "open other"]
    close_session()
    assert events()[-2:] == [f"close {events()[1].split()[1]}", f"close {events()[0].split()[1]}"]  # newest first


def test_a_resource_that_cannot_close_is_logged_without_its_secret(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (project / "pipelines.yaml").write_text(
        textwrap.dedent(
            """
            resources:
              counter: {uses: test.counter, with: {token: "${env:DW_TEST_TOKEN}", fail_close: true}}
            pipelines:
              p:
                params: {n: 1}
                stages: {one: {uses: test.use, inputs: {x: "${params.n}"}}}
            """
        )
    )
    run_local(plan(project)).raise_for_status()
    with caplog.at_level("WARNING", logger="dagwright"):
        close_session()
    assert "closing test.counter failed: RuntimeError: cannot close the session of ***" in caplog.text
    assert "tok-S3CRET-42" not in caplog.text


def test_a_ctrl_c_while_closing_still_closes_the_other_resources(project: Path) -> None:
    # A new user's Ctrl-C during the model server's close left the embedded PostgreSQL running, with a traceback.
    text = (project / "pipelines.yaml").read_text().replace("{label: other}", "{label: other, interrupt_close: true}")
    (project / "pipelines.yaml").write_text(text)
    run_local(plan(project)).raise_for_status()
    with pytest.raises(KeyboardInterrupt):
        close_session()
    assert events()[-1] == "close a"  # closed after the interrupted one


def test_the_cli_ends_a_ctrl_c_while_closing_as_interrupted(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (project / "pipelines.yaml").read_text().replace("{label: other}", "{label: other, interrupt_close: true}")
    (project / "pipelines.yaml").write_text(text)
    assert main(["-f", str(project / "pipelines.yaml"), "run", "p", "--local"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert events()[-1] == "close a"


def test_the_cache_key_folds_in_the_resources_identity(project: Path) -> None:
    assert run_local(plan(project)).stages["one"].status == "completed"
    assert run_local(plan(project)).stages["one"].status == "cached"
    set_label(project, "b")
    changed = run_local(plan(project))
    assert changed.stages["one"].status == "completed" and changed.stages["one"].outputs["output"].startswith("b:")
    assert changed.stages["three"].status == "cached"  # its resource did not change


def test_secrets_enter_the_identity_only_hashed(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    planned = plan(project).resources["counter"]
    identity, settings = resolve_resource(planned)
    assert settings.token == "tok-S3CRET-42" and "S3CRET" not in identity
    monkeypatch.setenv("DW_TEST_TOKEN", "another")
    assert resolve_resource(planned)[0] != identity  # a changed secret is another resource


def test_a_profile_swaps_a_resource_without_touching_the_pipelines(project: Path) -> None:
    alt = plan(project, "alt")
    assert alt.profile == "alt" and alt.resources["counter"].with_ == {"label": "alt"}
    assert run_local(alt).stages["one"].outputs["output"].startswith("alt:")
    assert run_local(plan(project)).stages["one"].outputs["output"].startswith("a:")
    assert sorted(events()) == ["open a", "open alt", "open other"]  # both live in one process, apart
    assert len(current_session()._open) == 3


def test_cli_profile_and_resources_listing(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-f", str(project / "pipelines.yaml"), "resources"]) == 0
    out = capsys.readouterr().out
    assert "counter  test.counter  counter" in out and "used by p.one, p.two" in out and "other" in out
    assert main(["-f", str(project / "pipelines.yaml"), "--profile", "atl", "validate"]) == 2
    assert "no profile 'atl' (did you mean 'alt'?); profiles are: alt" in capsys.readouterr().err
    assert main(["-f", str(project / "pipelines.yaml"), "--profile", "alt", "show", "p"]) == 0
    shown = capsys.readouterr().out
    assert "uses counter (test.counter)" in shown and "resources (profile alt):" in shown
    assert "S3CRET" not in out + shown


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_setting_fails_only_the_stages_using_that_resource_and_is_not_retried(
    project: Path, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("DW_TEST_TOKEN")
    else:
        monkeypatch.setenv("DW_TEST_TOKEN", value)  # empty counts as unset: drivers fall back to defaults on ""
    result = run_local(plan(project))
    assert result.stages["three"].status == "completed"  # its resource needs no environment
    failed = result.stages["one"]
    assert failed.status == "failed" and failed.attempts == 1  # a setting does not appear on retry
    assert "resource 'counter': environment variable DW_TEST_TOKEN is not set (or is empty)" in (failed.error or "")


def test_a_resource_that_cannot_open_never_shows_its_secret(project: Path) -> None:
    text = (project / "pipelines.yaml").read_text().replace("label: a,", "label: a, fail: true,")
    (project / "pipelines.yaml").write_text(text)
    failed = run_local(plan(project)).stages["one"]
    assert failed.status == "failed"
    assert 'could not open: RuntimeError: missing "=" after "***" in connection info string' in (failed.error or "")
    assert "S3CRET" not in (failed.error or "") + (failed.traceback or "")
