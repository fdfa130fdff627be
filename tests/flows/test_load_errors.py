"""Every bad file in cases/bad gives exactly the messages in its .expected twin (golden files).

Regenerate after an intended wording change with DAGWRIGHT_UPDATE_GOLDEN=1, then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.errors import SpecError
from flows.language.load import load
from flows.plan.planner import plan_project

CASES = Path(__file__).parent / "cases"
BAD = sorted((CASES / "bad").glob("*.yaml"))
GOOD = sorted((CASES / "good").glob("*.yaml"))


def problems_of(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        plan_project(load(path.name))
    return [str(p) for p in caught.value.problems]


def test_there_are_at_least_25_bad_cases() -> None:
    assert len(BAD) >= 25


@pytest.mark.parametrize("case", BAD, ids=lambda p: p.stem)
def test_bad_case_reports_golden_messages(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case.parent)
    got = problems_of(case)
    expected_file = case.with_suffix(".expected")
    if os.environ.get("DAGWRIGHT_UPDATE_GOLDEN"):
        expected_file.write_text("\n".join(got) + "\n")
    assert got == expected_file.read_text().splitlines()


@pytest.mark.parametrize("case", BAD, ids=lambda p: p.stem)
def test_every_message_says_where(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case.parent)
    for problem in problems_of(case):
        file, line, col, rest = problem.split(":", 3)
        assert file == case.name and int(line) >= 1 and int(col) >= 1 and rest.strip()


@pytest.mark.parametrize("case", GOOD, ids=lambda p: p.stem)
def test_good_case_plans(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(case.parent)
    plans = plan_project(load(case.name))
    assert plans and all(plan.stages for plan in plans.values())


def test_shipped_pipelines_file_is_valid() -> None:
    plans = plan_project(load(Path(__file__).parents[2] / "pipelines.yaml"))
    assert "docs-report" in plans
