"""Flow-run names: the pipeline and the params that tell its runs apart, short, never a secret."""

from __future__ import annotations

from flows.execute.secrets import Secrets, secrets_of_run
from flows.prefect.naming import MAX_LENGTH, run_name

PIPELINE = """
pipelines:
  rag-query:
    params:
      question: {type: string, description: The question to answer.}
      top_k: {type: integer, default: 4}
      token: {type: string, secret: true}
    stages:
      nums: {uses: python.call, with: {function: "tests.helpers.stagefns:numbers"}}
"""


def name_of(plan, **params) -> str:
    bound = plan.bind_params(params)
    return run_name(plan, bound, secrets_of_run(plan, bound))


def test_a_run_is_named_by_its_pipeline_and_required_params(plan_of) -> None:
    plan = plan_of(PIPELINE, "rag-query")
    assert name_of(plan, question="How does caching work?", token="s3cr3t-value") == (
        "rag-query: How does caching work?"
    )


def test_changed_optional_params_show_as_name_value_and_long_values_are_cut(plan_of) -> None:
    plan = plan_of(PIPELINE, "rag-query")
    question = "How does dagwright decide\nthat a cached stage result can be reused across runs and machines?"
    name = name_of(plan, question=question, top_k=8, token="s3cr3t-value")
    assert name == "rag-query: How does dagwright decide that a…, top_k=8"
    assert len(name) <= MAX_LENGTH


def test_a_secret_never_appears_even_inside_another_value(plan_of) -> None:
    plan = plan_of(PIPELINE, "rag-query")
    name = name_of(plan, question="is s3cr3t-value valid?", token="s3cr3t-value")
    assert "s3cr3t" not in name and name == "rag-query: is *** valid?"


def test_a_run_without_distinguishing_params_is_named_after_its_pipeline(plan_of) -> None:
    plan = plan_of(PIPELINE.replace("question: {type: string,", "question: {type: string, default: x,"), "rag-query")
    assert run_name(plan, plan.bind_params({"token": "abcd1234"}), Secrets.of(["abcd1234"])) == "rag-query"
