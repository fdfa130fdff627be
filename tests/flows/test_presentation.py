"""Outputs say how they are shown (Presentable) and what checks read in them (Checkable); the engine guesses
nothing from field names."""

from __future__ import annotations

from dataclasses import dataclass

from components.generators import Answer, Source
from components.stores.base import IndexReport
from flows.cli.main import present
from flows.execute.local import run_local
from flows.execute.outputs import output_data, output_markdown, output_table
from flows.plan.checks import port_kind
from tests.helpers.pipelines import FN
from tests.helpers.stagefns import Reply


@dataclass
class LooksLikeAnAnswer:
    text: str
    sources: list[str]


def test_a_presentable_value_is_shown_as_it_presents_itself() -> None:
    assert present("ask.output", Reply("forty-two", ["a.md"])) == "ask.output = forty-two (from a.md)"


def test_field_names_alone_do_not_make_an_answer() -> None:
    shown = present("x.output", LooksLikeAnAnswer("hi", ["a"]))
    assert shown == "x.output = LooksLikeAnAnswer(text='hi', sources=['a'])"
    assert port_kind(LooksLikeAnAnswer) is None


def test_the_check_kind_comes_from_the_declaration() -> None:
    assert port_kind(Reply) == "answer" and port_kind(Answer) == "answer"


def test_an_answer_presents_its_sources_as_before() -> None:
    source = Source(1, "guide.md", "Guide", ["Setup", "Secrets"], 0.734, cited=True)
    answer = Answer("where?", "In the env [1].", [source], grounded=True)
    assert present("generate.answer", answer).splitlines() == [
        "generate.answer:",
        "In the env [1].",
        "",
        "  [1] guide.md > Setup > Secrets  (relevance 0.73, cited)",
    ]
    assert "1. guide.md > Setup > Secrets (relevance 0.73, cited)" in answer.as_markdown()


def test_an_index_report_presents_as_one_line() -> None:
    report = IndexReport(1, 0, 2, 0, 5, 0, 9)
    assert present("index.report", report) == (
        "index.report = sources_new=1, sources_changed=0, sources_unchanged=2, sources_removed=0, "
        "chunks_written=5, chunks_deleted=0, chunks_total=9"
    )
    assert "| chunks_total | 9 |" in report.as_markdown()


def test_answer_checks_gate_any_type_that_declares_the_kind(plan_of) -> None:
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              ask:
                uses: python.call
                with: {{function: "{FN}:reply"}}
                checks: {{outputs: {{reply: [{{sources_present: {{min: 1}}}}, text_length]}}}}
        """)
    result = run_local(plan)
    assert result.stages["ask"].status == "failed"
    assert "outputs.reply: sources_present(min=1) failed" in (result.stages["ask"].error or "")


def test_an_index_report_declares_itself_a_table_and_an_answer_markdown() -> None:
    report = IndexReport(1, 0, 2, 0, 5, 0, 9)
    assert output_table(report) == [
        {"count": "sources_new", "value": 1},
        {"count": "sources_changed", "value": 0},
        {"count": "sources_unchanged", "value": 2},
        {"count": "sources_removed", "value": 0},
        {"count": "chunks_written", "value": 5},
        {"count": "chunks_deleted", "value": 0},
        {"count": "chunks_total", "value": 9},
    ]
    answer = Answer("where?", "In the env [1].", [Source(1, "guide.md", "Guide", [], 0.5, cited=True)], True)
    assert output_table(answer) is None
    assert output_markdown(answer) == answer.as_markdown()


def test_output_data_is_json_as_declared_or_plain_and_a_repr_otherwise() -> None:
    answer = Answer("where?", "In the env [1].", [Source(1, "guide.md", "Guide", ["Setup"], 0.5, cited=True)], True)
    data = output_data(answer)
    assert data["text"] == "In the env [1]." and data["sources"][0]["heading_path"] == ["Setup"]
    assert output_data(LooksLikeAnAnswer("hi", ["a"])) == {"text": "hi", "sources": ["a"]}  # fields, not a guess
    assert output_data({"n": 3}) == {"n": 3}
    assert output_data(float("nan")) == "nan"  # not JSON: its repr
    assert output_data(object()).startswith("<object object at")
    assert output_markdown(LooksLikeAnAnswer("hi", ["a"])) == "```\nLooksLikeAnAnswer(text='hi', sources=['a'])\n```"
