"""Issue 8: what used to be answered from the cache although the result would differ (a stale hit)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import components
from flows.execute.dependencies import code_files, library_version
from flows.execute.session import close_session
from tests.faults.project import edit, fake_distribution, make_project, run


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = make_project(tmp_path / "project")
    monkeypatch.chdir(root)  # as the CLI does: prompts_dir is relative to the project folder
    yield root
    close_session()


def statuses(root: Path, pipeline: str, **params: str) -> dict[str, str]:
    return {stage: result.status for stage, result in run(root, pipeline, **params).stages.items()}


def test_an_edited_prompt_template_is_a_miss(project: Path) -> None:
    assert statuses(project, "ask")["generate"] == "completed"
    assert statuses(project, "ask")["generate"] == "cached"
    edit(project / "prompts/rag-answer.v1.yaml", "Answer from the passages.", "Answer briefly.")
    result = run(project, "ask")
    assert result.stages["generate"].status == "completed"
    assert result.output("generate", "answer").text.startswith("Answer briefly.")


def test_an_edited_module_that_the_component_imports_is_a_miss(project: Path) -> None:
    assert statuses(project, "shout")["shout"] == "completed"
    assert statuses(project, "shout")["shout"] == "cached"
    edit(project / "components/textutil.py", "text.upper()", "text.upper() + '!'")
    assert statuses(project, "shout")["shout"] == "completed"


def test_an_edited_module_that_a_python_call_function_imports_is_a_miss(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("faultglue", "faulthelper"):  # imported from this project, not an earlier test's
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert statuses(project, "glue")["call"] == "completed"
    assert statuses(project, "glue")["call"] == "cached"
    edit(project / "faulthelper.py", "FACTOR = 3", "FACTOR = 4")
    assert statuses(project, "glue")["call"] == "completed"


def test_the_module_that_renders_prompts_is_part_of_the_answer_generators_code() -> None:
    # components/prompts.py renders the prompt, but generator.answer is defined in components/generators.py.
    files = code_files("components.generators", (Path(components.__file__).parent,))
    assert {"components.generators", "components.prompts", "components.base", "components.llmserver"} <= set(files)
    assert not any("site-packages" in f for f in files.values())  # libraries are keyed by version, not source


def test_sampling_at_a_temperature_above_0_is_never_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path / "hot", temperature=1.5)
    monkeypatch.chdir(root)
    answers = []
    for _ in range(3):
        result = run(root, "ask")
        assert result.stages["generate"].status == "completed"
        assert result.stages["passages"].status in ("completed", "cached")  # deterministic stages still are
        answers.append(result.output("generate", "answer").text)
    assert len(set(answers)) == 3
    close_session()


def test_greedy_decoding_is_cached(project: Path) -> None:
    run(project, "ask")
    assert statuses(project, "ask") == {"passages": "cached", "generate": "cached"}


def test_a_changed_version_of_a_declared_library_is_a_miss(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    fake_distribution(site, "dw-fault-lib", "1.0")
    monkeypatch.syspath_prepend(str(site))
    library_version.cache_clear()
    assert statuses(project, "shout")["shout"] == "completed"
    assert statuses(project, "shout")["shout"] == "cached"
    fake_distribution(site, "dw-fault-lib", "1.1")
    library_version.cache_clear()  # versions are read once per process: this is the next process
    assert statuses(project, "shout")["shout"] == "completed"
    library_version.cache_clear()
    assert "dw_fault_lib" not in sys.modules  # versions come from metadata, nothing is imported
