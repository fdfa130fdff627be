"""The planner is a sequence of passes over one PlanningContext; a new pass is one more function in the list."""

from __future__ import annotations

import pytest

from flows.errors import SpecError
from flows.language.load import load
from flows.plan.passes import PASSES, PlanningContext
from flows.plan.planner import plan_project

TWO_STAGES = """
pipelines:
  p:
    stages:
      nums: {uses: python.call, with: {function: "tests.helpers.stagefns:numbers"}}
      total:
        uses: python.call
        with: {function: "tests.helpers.stagefns:total"}
        inputs: {values: nums.output}
"""


def no_stage_named_total(ctx: PlanningContext) -> None:
    for sid in ctx.pipeline.stages:
        if sid == "total":
            ctx.report(ctx.at("stages", sid), "no stage may be called 'total' here")


def test_an_added_pass_reports_with_file_line_and_path(write_pipelines) -> None:
    project = load(write_pipelines(TWO_STAGES))
    with pytest.raises(SpecError) as caught:
        plan_project(project, passes=(*PASSES, no_stage_named_total))
    assert [str(p).rsplit("/", 1)[-1] for p in caught.value.problems] == [
        "pipelines.yaml:7:9: pipelines.p.stages.total: no stage may be called 'total' here"
    ]


def test_later_passes_see_what_earlier_ones_recorded(write_pipelines) -> None:
    seen: dict[str, object] = {}

    def record(ctx: PlanningContext) -> None:
        seen.update(order=ctx.order, ports=sorted(ctx.ports), inputs=sorted(ctx.inputs))

    plan_project(load(write_pipelines(TWO_STAGES)), passes=(*PASSES, record))
    assert seen == {"order": ["nums", "total"], "ports": ["nums", "total"], "inputs": ["nums", "total"]}


def test_the_default_passes_plan_as_before(write_pipelines) -> None:
    plan = plan_project(load(write_pipelines(TWO_STAGES)))["p"]
    assert [s.id for s in plan.stages] == ["nums", "total"] and plan.stage("total").upstream == ("nums",)
