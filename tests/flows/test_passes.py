"""The planner is a sequence of passes over one PlanningContext; a new pass is one more function in the list."""

from __future__ import annotations

import pytest

from components.base import TokenWindowed, WindowFitted
from flows.errors import SpecError
from flows.language.load import load
from flows.plan.passes import PASSES, PlanningContext
from flows.plan.planner import plan_project
from flows.plan.registry import discover
from tests.helpers.files import write_tree

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


WINDOWED = '''
from components.base import Component, ComponentParams, TokenWindowed
from components.documents import Document


class TinyEmbedder(Component, TokenWindowed):
    """Reads 64 tokens of each text."""

    name = "embedder.tiny"

    @classmethod
    def token_window(cls, params: ComponentParams, resources: object) -> int:
        return 64

    def run(self, documents: list[Document]) -> list[Document]:
        return documents
'''


def test_a_component_declaring_token_windowed_caps_the_chunker_feeding_it(tmp_path) -> None:
    root = write_tree(
        tmp_path / "proj",
        {
            "components/__init__.py": "",
            "components/tiny.py": WINDOWED,
            "pipelines.yaml": """
            pipelines:
              p:
                stages:
                  load: {uses: loader.files, with: {path: docs}}
                  chunk: {uses: chunker.tokens, with: {chunk_size: 200, overlap: 40}, inputs: {documents: load.output}}
                  embed: {uses: embedder.tiny, inputs: {documents: chunk.output}}
            """,
        },
    )
    plan = plan_project(load(root / "pipelines.yaml"), discover(root))["p"]
    assert plan.stage("chunk").with_ == {"chunk_size": 62, "overlap": 15}
    assert str(plan.notes[0]).endswith(
        "chunk_size 200 exceeds the 64-token window of embedder.tiny; chunks are capped at 62 tokens "
        "(the window less [CLS] and [SEP]), overlap 40 lowered to 15"
    )


def test_the_builtin_embedders_and_chunkers_declare_the_window_hooks() -> None:
    registry = discover()
    assert issubclass(registry.components["embedder.documents"], TokenWindowed)
    assert issubclass(registry.components["chunker.tokens"], WindowFitted)
    assert issubclass(registry.components["chunker.sections"], WindowFitted)
    assert not issubclass(registry.components["loader.files"], TokenWindowed | WindowFitted)
