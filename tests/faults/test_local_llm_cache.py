"""Issue 8 with the real local LLM: sampled answers are never served from the cache; a greedy answer is, until
its prompt template changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.files import shipped_project
from tests.integration.test_rag_pipelines import dagwright

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = shipped_project(tmp_path / "project")
    ingest = dagwright(root, "run", "rag-ingest", "--local")
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    return root


def generate_mark(root: Path) -> str:
    done = dagwright(root, "run", "rag-query", "--local", "-p", "question=Where do secrets go?")
    assert done.returncode == 0, done.stdout + done.stderr
    return next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("generate "))


def set_temperature(root: Path, temperature: float) -> None:
    file = root / "pipelines.yaml"
    text = file.read_text()
    old = "with: {llm: llm, prompt: rag-answer@1, max_tokens: 120"
    assert old in text
    file.write_text(text.replace(old, f"{old}, temperature: {temperature}"))


def test_a_sampled_answer_is_never_cached(project: Path) -> None:
    set_temperature(project, 1.5)
    assert [generate_mark(project) for _ in range(3)] == ["ok", "ok", "ok"]


def test_a_greedy_answer_is_cached_until_its_prompt_changes(project: Path) -> None:
    set_temperature(project, 0)
    assert [generate_mark(project), generate_mark(project)] == ["ok", "cached"]
    prompt = project / "prompts" / "rag-answer.v1.yaml"
    prompt.write_text(prompt.read_text().replace("in one or two sentences using", "in one sentence using"))
    assert generate_mark(project) == "ok"
