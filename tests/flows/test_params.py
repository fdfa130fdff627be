"""A run param's string constraints (min_length, max_length, pattern) and the JSON Schema that carries every
declared constraint to the Prefect run form."""

from __future__ import annotations

from typing import Any

import pytest

from flows.errors import ParamError
from flows.language.params import coerce, json_schema
from flows.language.spec import Param
from flows.plan.planner import Plan
from tests.conftest import REPO


def refusal(param: Param, value: Any) -> str:
    with pytest.raises(ParamError) as caught:
        coerce("p", "s", param, value)
    return str(caught.value).removeprefix("pipeline 'p', param 's': ")


@pytest.mark.parametrize("blank", ["", "   ", "\t\n ", "\u00a0"])
def test_min_length_1_refuses_a_blank_value_whitespace_included(blank: str) -> None:
    message = refusal(Param(type="string", min_length=1), blank)
    assert message == f"{blank!r} is blank (empty or only whitespace); it needs at least 1 character"


def test_min_length_does_not_count_whitespace_around_the_text() -> None:
    param = Param(type="string", min_length=3)
    assert refusal(param, "  ab  ") == (
        "'  ab  ' has 2 characters (whitespace around it not counted), fewer than the minimum length 3"
    )
    assert coerce("p", "s", param, " a b ") == " a b "  # the value itself is kept as given


def test_max_length_counts_every_character_and_quotes_only_the_start_of_a_long_value() -> None:
    param = Param(type="string", max_length=100)
    assert coerce("p", "s", param, "x" * 100) == "x" * 100
    assert refusal(param, "x" * 101) == f"{'x' * 60!r}... has 101 characters, more than the maximum length 100"


def test_pattern_is_searched_as_json_schema_does() -> None:
    assert coerce("p", "s", Param(type="string", pattern="[0-9]"), "v2") == "v2"  # unanchored: contains a match
    assert refusal(Param(type="string", pattern="^[a-z]+$"), "v2") == "'v2' does not match the pattern '^[a-z]+$'"


def test_a_secret_value_is_never_quoted_not_even_its_start() -> None:
    secret = Param(type="string", secret=True, max_length=10)
    assert refusal(secret, "s3cr3t-" * 20) == "*** has 140 characters, more than the maximum length 10"


def test_json_schema_carries_description_bounds_enum_lengths_and_pattern() -> None:
    assert json_schema(Param(type="integer", minimum=1, maximum=20, description="How many.")) == {
        "description": "How many.\n\nFrom 1 to 20.",  # the form shows no bound but in the description
        "minimum": 1,  # an integer param's bound stays an integer in the form
        "maximum": 20,
    }
    assert json_schema(Param(type="string", enum=["fast", "full"])) == {"enum": ["fast", "full"]}
    assert json_schema(Param(type="string", max_length=5, pattern="^v")) == {
        "description": "At most 5 characters, matching `^v`.",
        "maxLength": 5,
        "pattern": "^v",
    }
    assert json_schema(Param(type="string", description="Name.")) == {"description": "Name."}
    assert json_schema(Param(type="string")) == {}


@pytest.mark.parametrize(
    ("param", "rule"),
    [
        (Param(type="number", minimum=0.5), "At least 0.5."),
        (Param(type="integer", maximum=9), "At most 9."),
        (Param(type="string", min_length=1, max_length=1000), "Not blank, at most 1000 characters."),
        (Param(type="string", min_length=3), "At least 3 characters."),
    ],
)
def test_the_rule_in_the_description_reads_as_a_sentence(param: Param, rule: str) -> None:
    assert json_schema(param)["description"] == rule


@pytest.mark.parametrize("min_length", [1, 2, 3, 7])
@pytest.mark.parametrize("text", ["", " ", "a", " a ", "ab", "a b", " a  b ", "abc", "a\n\nc", "abcdefg", " ab cd  "])
def test_the_schema_of_min_length_refuses_what_coerce_refuses(min_length: int, text: str) -> None:
    """minLength alone would let "   " through the form: the schema's pattern makes the form agree with the run."""
    from prefect.utilities.schema_tools.validation import validate

    param = Param(type="string", min_length=min_length, pattern="^[^x]*$")  # a pattern of its own goes under allOf
    schema = {"type": "object", "properties": {"s": {"type": "string", **json_schema(param)}}}
    form_accepts = not validate({"s": text}, schema)
    try:
        coerce("p", "s", param, text)
        run_accepts = True
    except ParamError:
        run_accepts = False
    assert form_accepts == run_accepts


def shipped_rag_query() -> Plan:
    from flows.language.load import load
    from flows.plan.planner import plan_pipeline

    return plan_pipeline(load(REPO / "pipelines.yaml"), "rag-query")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"question": "   "}, "param 'question': '   ' is blank (empty or only whitespace); it needs at least 1"),
        ({"question": ""}, "param 'question': '' is blank"),
        ({"question": "Why?", "top_k": "50"}, "param 'top_k': 50 is above the maximum 20"),
    ],
)
def test_the_shipped_rag_query_refuses_a_blank_question_and_top_k_50(given: dict[str, str], message: str) -> None:
    with pytest.raises(ParamError) as caught:
        shipped_rag_query().bind_params(given, from_text=True)
    assert message in str(caught.value)
