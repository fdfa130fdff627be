"""The deployment `dagwright deploy` registers: its parameter schema is the run form, which the server enforces."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def rag_query_schema() -> dict[str, Any]:
    from flows.language.load import load
    from flows.plan.planner import plan_pipeline
    from flows.prefect.deploy import deployment_for

    deployment = deployment_for(plan_pipeline(load(REPO / "pipelines.yaml"), "rag-query"))
    return deployment._parameter_openapi_schema.model_dump_for_openapi()


def test_the_form_shows_each_params_description(rag_query_schema: dict[str, Any]) -> None:
    properties = rag_query_schema["properties"]
    assert properties["question"]["description"] == "The question to answer.\n\nNot blank, at most 1000 characters."
    assert properties["top_k"]["description"] == "How many passages to retrieve and cite.\n\nFrom 1 to 20."
    # What Prefect derives from the flow's signature is kept.
    assert properties["top_k"] | {"default": 4, "type": "integer", "title": "top_k"} == properties["top_k"]
    assert rag_query_schema["required"] == ["question"]


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        ({"question": "Why?", "top_k": 50}, "Validation failed for field 'top_k'. Failure reason: 50 is greater than"),
        ({"question": "Why?", "top_k": 0}, "Failure reason: 0 is less than the minimum of 1"),
        ({"question": "   "}, "Validation failed for field 'question'."),
        ({"question": ""}, "Validation failed for field 'question'."),
        ({"question": "x" * 1001}, "is too long"),
    ],
)
def test_the_server_refuses_bad_values_before_a_run_starts(
    rag_query_schema: dict[str, Any], parameters: dict[str, Any], reason: str
) -> None:
    # The check the server runs on a flow run created from a deployment that enforces its schema (the default).
    from prefect.utilities.schema_tools.validation import ValidationError, validate

    with pytest.raises(ValidationError) as caught:
        validate(parameters, rag_query_schema, raise_on_error=True)
    assert reason in str(caught.value)
    validate({"question": " Where do secrets go? ", "top_k": 20}, rag_query_schema, raise_on_error=True)
