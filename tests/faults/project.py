"""A small project for the fault tests: real dagwright components (generator.answer) on a project LLM provider
that answers from its prompt, and a project component that imports a sibling module and declares a library."""

from __future__ import annotations

import textwrap
from pathlib import Path

from flows.execute.local import run_local
from flows.execute.runtime import RunResult
from flows.language.load import load
from flows.plan.planner import plan_pipeline
from tests.helpers.files import write_tree

COMPONENTS = '''
import random
from typing import Any

from components.base import Component, ComponentParams
from components.documents import Document
from components.generators import LlmProvider

from . import textutil


class EchoSettings(ComponentParams):
    pass


class EchoLlm(LlmProvider[EchoSettings]):
    """Replies with its system prompt, and a fresh sample when the temperature is above 0."""

    name = "llm.echo"

    def open(self) -> None:
        pass

    def chat(self, messages: list[dict[str, str]], **options: Any) -> tuple[str, dict[str, int]]:
        sample = f" sample {random.random()}" if options["temperature"] > 0 else ""
        return messages[0]["content"] + sample, {}


class Passages(Component[ComponentParams]):
    name = "test.passages"

    def run(self, text: str) -> list[Document]:
        return [Document.from_source("notes.md", text)]


class Shout(Component[ComponentParams]):
    name = "test.shout"
    libraries = ("dw-fault-lib",)

    def run(self, text: str) -> str:
        return textutil.transform(text)
'''

PIPELINES = """
resources:
  llm: {uses: llm.echo}
pipelines:
  ask:
    params: {question: "Where do secrets go?", text: "In the environment."}
    stages:
      passages: {uses: test.passages, inputs: {text: "${params.text}"}}
      generate:
        uses: generator.answer
        with: {llm: llm, temperature: TEMPERATURE}
        inputs: {question: "${params.question}", documents: passages.output}
  glue:
    params: {n: 2}
    stages:
      call: {uses: python.call, with: {function: "faultglue:triple"}, inputs: {n: "${params.n}"}}
  shout:
    params: {text: "hello"}
    stages:
      shout: {uses: test.shout, inputs: {text: "${params.text}"}}
"""

PROMPT = """
system: "Answer from the passages. {context}"
user: "{question}"
"""


def make_project(root: Path, temperature: float = 0.0) -> Path:
    return write_tree(
        root,
        {
            "components/__init__.py": "",
            "components/echo.py": COMPONENTS,
            "components/textutil.py": "def transform(text: str) -> str:\n    return text.upper()\n",
            "prompts/rag-answer.v1.yaml": PROMPT,
            "faultglue.py": "import faulthelper\n\n\ndef triple(n: int) -> int:\n    return faulthelper.FACTOR * n\n",
            "faulthelper.py": "FACTOR = 3\n",
            "pipelines.yaml": PIPELINES.replace("TEMPERATURE", str(temperature)),
        },
    )


def run(root: Path, pipeline: str, **params: str) -> RunResult:
    return run_local(plan_pipeline(load(root / "pipelines.yaml"), pipeline), params).raise_for_status()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(textwrap.dedent(text.replace(old, new)))


def fake_distribution(site: Path, name: str, version: str) -> None:
    """A dist-info that importlib.metadata reads as an installed distribution."""
    info = site / f"{name.replace('-', '_')}-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
