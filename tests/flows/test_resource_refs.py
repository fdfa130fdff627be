"""Resources that name other resources in their settings (`embedding.openai` calling through an `llm.gateway`):
checked at plan time under every profile, opened first by the session and closed after, part of the identity."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from flows.cli import main
from flows.execute.local import run_local
from flows.execute.session import close_session, resolve_resource
from flows.language.load import load
from flows.plan.planner import plan_pipeline
from tests.helpers.files import write_tree

COMPONENTS = """
from typing import Annotated
from pydantic import Field
from components.base import Component, ComponentParams
from components.resources import Resource, Uses

EVENTS: list[str] = []


class BaseSettings(ComponentParams):
    label: str = "a"


class Base(Resource[BaseSettings]):
    name = "test.base"
    kind = "base"

    def open(self) -> None:
        EVENTS.append(f"open base {self.params.label}")

    def close(self) -> None:
        EVENTS.append("close base")


class LinkedSettings(ComponentParams):
    base: Annotated[str | None, Uses(Base)] = None
    peer: Annotated[str | None, Uses(Resource)] = None


class Linked(Resource[LinkedSettings]):
    name = "test.linked"
    kind = "linked"

    def open(self) -> None:
        self.base = self.context.resources.get(self.params.base, Base) if self.params.base else None
        EVENTS.append(f"open linked on {self.base.params.label if self.base else None}")

    def close(self) -> None:
        EVENTS.append("close linked")


class UseParams(ComponentParams):
    linked: Annotated[str, Uses(Linked)] = "linked"


class UseLinked(Component[UseParams]):
    name = "test.uselinked"

    def run(self, x: int) -> int:
        return id(self.resources.get(self.params.linked, Linked).base)
"""

PIPELINES = """
resources:
  base: {uses: test.base, with: {label: LABEL}}
  linked: {uses: test.linked, with: {base: base}}
pipelines:
  p:
    params: {n: 1}
    stages:
      one: {uses: test.uselinked, inputs: {x: "${params.n}"}}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    files = {"components/__init__.py": "", "components/linking.py": COMPONENTS}
    root = write_tree(tmp_path / "project", {**files, "pipelines.yaml": PIPELINES.replace("LABEL", "a")})
    yield root
    close_session()


def events() -> list[str]:
    return sys.modules["dagwright_project_components.linking"].EVENTS


def test_a_named_resource_opens_first_is_shared_and_closes_after(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_pipeline(load(project / "pipelines.yaml"), "p")
    assert sorted(plan.resources) == ["base", "linked"]  # the stage names only `linked`
    assert main(["-f", str(project / "pipelines.yaml"), "resources"]) == 0
    assert "  base    test.base    base             used by resource linked" in capsys.readouterr().out
    run_local(plan).raise_for_status()
    close_session()
    assert events()[-4:] == ["open base a", "open linked on a", "close linked", "close base"]
    identity = resolve_resource(plan.resources["linked"])[0]
    (project / "pipelines.yaml").write_text(textwrap.dedent(PIPELINES).replace("LABEL", "b"))
    changed = plan_pipeline(load(project / "pipelines.yaml"), "p").resources["linked"]
    assert resolve_resource(changed)[0] != identity  # the same settings over another base: another resource


def test_unknown_wrong_kind_and_circular_names_are_reported_at_the_setting(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "pipelines.yaml").write_text(
        textwrap.dedent("""
        resources:
          base: {uses: test.base}
          linked: {uses: test.linked, with: {base: bsae}}
          wrong: {uses: test.linked, with: {base: linked}}
          loop-a: {uses: test.linked, with: {peer: loop-b}}
          loop-b: {uses: test.linked, with: {peer: loop-a}}
        pipelines:
          p:
            stages:
              one: {uses: test.uselinked, inputs: {x: "${params.n}"}}
            params: {n: 1}
        """)
    )
    assert main(["-f", str(project / "pipelines.yaml"), "validate"]) == 2
    err = capsys.readouterr().err
    assert (
        "4:44: resources.linked.with.base: unknown resource 'bsae' (did you mean 'base'?) for 'base', which needs "
        "a base; base resources are: base"
    ) in err
    assert (
        "5:43: resources.wrong.with.base: resource 'linked' is a test.linked (linked), but 'base' needs a base" in err
    )
    assert "7:44: resources.loop-b.with.peer: 'peer' names 'loop-a', which leads back to this resource: " in err
    assert "error: 3 problems found" in err


def test_embedding_openai_goes_through_a_gateway_or_its_own_endpoint_not_both(
    write_pipelines, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write_pipelines("""
        resources:
          llm: {uses: llm.gateway}
          both: {uses: embedding.openai, with: {llm: llm, model: m, base_url: "http://127.0.0.1:1/v1"}}
          routed: {uses: embedding.openai, with: {model: m, route: [local]}}
          chat: {uses: embedding.openai, with: {llm: minilm, model: m}}
          minilm: {uses: embedding.onnx}
        pipelines:
          p:
            stages:
              embed: {uses: embedder.text, with: {model: both}, inputs: {text: "${params.q}"}}
            params: {q: hi}
        """)
    assert main(["-f", str(file), "validate"]) == 2
    err = capsys.readouterr().err
    assert "resources.both.with: set llm (a gateway, whose providers hold base_url and api_key) or base_url" in err
    assert "resources.routed.with: route names providers of the gateway that llm names; set llm" in err
    assert (
        "resources.chat.with.llm: resource 'minilm' is an embedding.onnx (embedding model), but 'llm' needs an " in err
    )
