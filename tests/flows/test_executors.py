"""One plan, two executors, the same semantics: every test here runs in process and as a Prefect flow on a real
Prefect server (the latter in the integration tier). Order, concurrency, failure isolation, retries, timeouts,
cache hits and resume."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flows.execute.local import run_local as run_in_process
from flows.execute.runtime import RunResult, StageResult
from flows.plan.planner import Plan
from tests.helpers.pipelines import FAILING_BRANCHES, FN, buggy, flaky, nums_then

Runner = Callable[..., RunResult]


def run_as_prefect_flow(plan: Plan, params: dict[str, Any] | None = None, **options: Any) -> RunResult:
    from flows.prefect.executor import build_flow

    results: list[RunResult] = []
    build_flow(plan, options.get("reporter"), results, use_cache=options.get("use_cache", True))(
        **(params or {}), return_state=True
    )
    return results[-1]


@pytest.fixture(params=["in-process", pytest.param("prefect", marks=pytest.mark.integration)])
def execute(request: pytest.FixtureRequest) -> Runner:
    """The executor under test: execute(plan, params, reporter=..., use_cache=...) -> RunResult."""
    if request.param == "prefect":
        request.getfixturevalue("prefect_api")
        return run_as_prefect_flow
    return run_in_process


class Recorder:
    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.retried: list[tuple[str, int]] = []
        self.finished: list[StageResult] = []

    def stage_started(self, stage: str, attempt: int) -> None:
        self.started.append((stage, attempt))

    def stage_retrying(self, stage: str, attempt: int, error: BaseException, delay: float) -> None:
        self.retried.append((stage, attempt))

    def stage_finished(self, result: StageResult) -> None:
        self.finished.append(result)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_chain_runs_in_dependency_order_and_passes_values(execute: Runner, plan_of, tmp_path: Path) -> None:
    log = tmp_path / "order.log"
    plan = plan_of(f"""
        pipelines:
          p:
            params: {{n: 4}}
            stages:
              total:
                uses: python.call
                with: {{function: "{FN}:total"}}
                inputs: {{values: second.output}}
              second:
                uses: python.call
                with: {{function: "{FN}:record", kwargs: {{log: "{log}", name: second}}}}
                inputs: {{values: first.output}}
              first:
                uses: python.call
                with: {{function: "{FN}:numbers"}}
                inputs: {{n: "${{params.n}}"}}
        """)
    result = execute(plan, {"n": 5})
    assert [s.id for s in plan.stages] == ["first", "second", "total"]
    assert result.ok and result.output("total") == 15
    # A flat list of numbers is one value, not rows (rows are documents, records, table rows).
    assert result.stages["first"].rows_out is None and result.stages["total"].rows_in is None
    assert lines(log) == ["second"]


def test_independent_stages_run_concurrently(execute: Runner, plan_of, tmp_path: Path) -> None:
    # Each branch waits at a two-party barrier: the run can only finish if both run at the same time.
    barrier = str(tmp_path)
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              nums: {{uses: python.call, with: {{function: "{FN}:numbers"}}}}
              left:
                uses: python.call
                with: {{function: "{FN}:meet", kwargs: {{barrier: "{barrier}"}}}}
                inputs: {{values: nums.output}}
              right:
                uses: python.call
                with: {{function: "{FN}:meet", kwargs: {{barrier: "{barrier}"}}}}
                inputs: {{values: nums.output}}
        """)
    result = execute(plan, use_cache=False)
    assert result.ok, result.error
    assert {s.status for s in result.stages.values()} == {"completed"}


def test_failure_skips_downstream_but_not_independent_branches(execute: Runner, plan_of) -> None:
    plan = plan_of(FAILING_BRANCHES)
    result = execute(plan)
    status = {k: v.status for k, v in result.stages.items()}
    assert status == {
        "nums": "completed",
        "broken": "failed",
        "after_broken": "skipped",
        "later": "skipped",
        "healthy": "completed",
    }
    assert not result.ok
    assert "stage 'broken' failed: ValueError: boom" in str(result.error)
    assert result.output("healthy") == 6
    # `later` waits on after_broken only; the reason names the stage that failed, not the one in between.
    assert {result.stages[s].error for s in ("after_broken", "later")} == {"not run: stage 'broken' failed"}


def test_a_bug_in_a_stage_keeps_its_type_and_traceback(execute: Runner, plan_of) -> None:
    failed = execute(plan_of(buggy())).stages["buggy"]
    assert failed.error == "KeyError: 'source'"
    assert isinstance(failed.exception, KeyError)
    trace = failed.traceback or ""
    assert trace.startswith("Traceback (most recent call last):") and trace.rstrip().endswith("KeyError: 'source'")
    assert 'return [row["source"] for row in rows]' in trace  # the line of the bug itself


def test_a_stage_that_fails_with_outputs_keeps_them_is_not_retried_and_stops_downstream(
    execute: Runner, plan_of
) -> None:
    text = (
        nums_then("limit", "fail_with_total", retries=2)
        + """
      after:
        uses: python.call
        with: {function: "tests.helpers.stagefns:noop"}
        inputs: {x: limit.output}
"""
    )
    result = execute(plan_of(text))
    limit = result.stages["limit"]
    assert (limit.status, limit.attempts, limit.error) == ("failed", 1, "FailedWithOutputs: over the limit")
    assert limit.outputs == {"output": 6}  # shown as a finished stage's outputs are
    assert result.stages["after"].status == "skipped" and not result.ok


def test_a_failed_stage_reports_the_time_its_attempts_took(execute: Runner, plan_of) -> None:
    plan = plan_of(nums_then("slow_failure", "fail_after", "{seconds: 0.2}", retries=1, retry_delay="10ms"))
    failed = execute(plan, use_cache=False).stages["slow_failure"]
    assert failed.status == "failed" and failed.attempts == 2
    assert failed.seconds >= 0.4  # both attempts, not only the last one


@pytest.mark.usefixtures("project_in_tmp_path")  # loader.files reads under the project root
def test_a_failed_gate_is_not_retried(execute: Runner, plan_of, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\ntext\n")
    (docs / "empty.md").write_text("")  # fails the loader's default text_length check
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              load: {{uses: loader.files, with: {{path: "{docs}"}}, retries: 3, retry_delay: 5s}}
        """)
    recorder = Recorder()
    result = execute(plan, reporter=recorder, use_cache=False)
    load = result.stages["load"]
    assert load.status == "failed" and load.attempts == 1 and recorder.retried == []
    assert "gate of stage 'load' failed" in (load.error or "") and load.gates and load.gates[0].failed


LIFECYCLE_COMPONENT = """
from pathlib import Path
from components.base import Component, ComponentParams


class LogParams(ComponentParams):
    log: str


class Logged(Component[LogParams]):
    name = "test.logged"
    cacheable = False
    warm = False

    def _note(self, event: str) -> None:
        with Path(self.params.log).open("a") as f:
            f.write(event + "\\n")

    def warm_up(self) -> None:
        self._note("warm_up")
        self.warm = True

    def close(self) -> None:
        self._note("close")

    def run(self, values: list[int]) -> list[int]:
        self._note("run" if self.warm else "run before warm_up")
        return values
"""


def test_an_instance_is_warmed_up_once_before_its_runs_and_closed_at_release(
    execute: Runner, plan_of, tmp_path: Path
) -> None:
    from flows.execute.session import close_session

    log = tmp_path / "lifecycle.log"
    (tmp_path / "project" / "components").mkdir(parents=True)
    (tmp_path / "project" / "components" / "logged.py").write_text(LIFECYCLE_COMPONENT)
    same = f"{{uses: test.logged, with: {{log: '{log}'}}, inputs: {{values: nums.output}}}}"
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              nums: {{uses: python.call, with: {{function: "{FN}:numbers"}}}}
              left: {same}
              right: {same}
        """)
    assert execute(plan).ok
    assert lines(log) == ["warm_up", "run", "run"]  # the two stages share one instance: same params
    close_session()
    assert lines(log) == ["warm_up", "run", "run", "close"]


def test_retries_until_success_with_attempts_reported(execute: Runner, plan_of, tmp_path: Path) -> None:
    log = tmp_path / "flaky.log"
    plan = plan_of(flaky(log, retries=2, failures=2))
    recorder = Recorder()
    result = execute(plan, reporter=recorder, use_cache=False)
    assert result.ok
    assert result.stages["flaky"].attempts == 3
    assert recorder.retried == [("flaky", 1), ("flaky", 2)]
    assert len(lines(log)) == 3


def test_retries_exhausted_fails_the_stage(execute: Runner, plan_of, tmp_path: Path) -> None:
    log = tmp_path / "flaky.log"
    plan = plan_of(flaky(log, retries=1, failures=5))
    result = execute(plan, use_cache=False)
    assert result.stages["flaky"].status == "failed"
    assert result.stages["flaky"].attempts == 2
    assert "flaky failure 2 of 5" in (result.stages["flaky"].error or "")


def test_timeout_fails_a_slow_stage(execute: Runner, plan_of) -> None:
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              nums: {{uses: python.call, with: {{function: "{FN}:numbers"}}}}
              slow:
                uses: python.call
                timeout: 0.3
                with: {{function: "{FN}:sleep", kwargs: {{seconds: 2}}}}
                inputs: {{values: nums.output}}
        """)
    result = execute(plan, use_cache=False)
    assert result.stages["slow"].status == "failed"
    assert "timed out" in (result.stages["slow"].error or "") or "exceeded timeout" in (
        result.stages["slow"].error or ""
    )


CACHED_CHAIN = """
    pipelines:
      p:
        params: {{n: 3}}
        stages:
          nums:
            uses: python.call
            with: {{function: "{fn}:numbers"}}
            inputs: {{n: "${{params.n}}"}}
          logged:
            uses: python.call
            with: {{function: "{fn}:record", kwargs: {{log: "{log}", name: logged}}}}
            inputs: {{values: nums.output}}
          guarded:
            uses: python.call
            with: {{function: "{fn}:crash_if_exists", kwargs: {{marker: "{marker}"}}}}
            inputs: {{values: logged.output}}
          total:
            uses: python.call
            with: {{function: "{fn}:total"}}
            inputs: {{values: guarded.output}}
"""


def test_cache_hits_on_same_inputs_and_misses_on_new_ones(execute: Runner, plan_of, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    plan = plan_of(CACHED_CHAIN.format(fn=FN, log=log, marker=tmp_path / "absent"))
    first = execute(plan)
    second = execute(plan)
    third = execute(plan, {"n": 4})
    assert [s.status for s in first.stages.values()] == ["completed"] * 4
    assert [s.status for s in second.stages.values()] == ["cached"] * 4
    assert second.output("total") == 6
    assert third.stages["logged"].status == "completed" and third.output("total") == 10
    assert lines(log) == ["logged", "logged"]  # the second run did not call it again


def test_cache_false_always_recomputes(execute: Runner, plan_of, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    plan = plan_of(
        CACHED_CHAIN.format(fn=FN, log=log, marker=tmp_path / "absent").replace(
            "          logged:\n", "          logged:\n            cache: false\n"
        )
    )
    execute(plan)
    execute(plan)
    assert lines(log) == ["logged", "logged"]


def test_crashed_run_resumes_from_finished_stages(execute: Runner, plan_of, tmp_path: Path) -> None:
    log, marker = tmp_path / "calls.log", tmp_path / "crash"
    marker.touch()
    plan = plan_of(CACHED_CHAIN.format(fn=FN, log=log, marker=marker))
    crashed = execute(plan)
    assert crashed.stages["guarded"].status == "failed" and crashed.stages["total"].status == "skipped"
    marker.unlink()
    resumed = execute(plan)
    assert [s.status for s in resumed.stages.values()] == ["cached", "cached", "completed", "completed"]
    assert lines(log) == ["logged"]  # finished work was not done twice
    assert resumed.output("total") == 6


def test_dataclass_outputs_become_separate_ports(execute: Runner, plan_of) -> None:
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              nums:
                uses: python.call
                with: {{function: "{FN}:numbers", kwargs: {{n: 5}}}}
              split:
                uses: python.call
                with: {{function: "{FN}:split"}}
                inputs: {{values: nums.output}}
              evens:
                uses: python.call
                with: {{function: "{FN}:total"}}
                inputs: {{values: split.evens}}
        """)
    assert execute(plan).output("evens") == 6


@pytest.mark.usefixtures("project_in_tmp_path")  # loader.files reads under the project root
def test_missing_environment_variable_fails_the_stage_without_printing_values(
    execute: Runner, plan_of, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\ntext\n")
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              read:
                uses: loader.files
                with: {{path: "{tmp_path / "docs"}", max_files: "${{env:DW_TEST_MAX}}"}}
        """)
    monkeypatch.delenv("DW_TEST_MAX", raising=False)
    result = execute(plan)
    assert "environment variable DW_TEST_MAX is not set" in (result.stages["read"].error or "")
    monkeypatch.setenv("DW_TEST_MAX", "s3cret-value")
    result = execute(plan)
    error = result.stages["read"].error or ""
    assert "max_files" in error and "not shown" in error and "s3cret-value" not in error
    monkeypatch.setenv("DW_TEST_MAX", "7")
    assert execute(plan).ok
