"""Online outcomes, end to end on real MLflow (SQLite), ONNX Runtime and the prediction log: `record-outcome`
served beside `doc-classify`, and a promotion that the held-out set favours but the online outcomes refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.registry_predictions import PredictionLog
from tests.helpers.resources import open_resource
from tests.integration.test_models import classifier, model_name, promote, train, world  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

SERVED = """
resources:
  models: {{uses: mlflow.registry, with: {{tracking_uri: "{uri}"}}}}
  predictions: {{uses: predictions.log}}
pipelines:
  classify:
    serve: true
    params: {{text: {{type: string}}, key: {{type: string}}}}
    stages:
      classify:
        uses: classifier.onnx
        with: {{model_name: {name}}}
        inputs: {{text: "${{params.text}}", key: "${{params.key}}"}}
  record-outcome:
    serve: true
    params: {{model: {{type: string, default: {name}}}, key: {{type: string}}, label: {{type: string}}}}
    stages:
      record:
        uses: predictions.outcome
        inputs: {{model: "${{params.model}}", key: "${{params.key}}", label: "${{params.label}}"}}
"""


def outcome_rows(log: PredictionLog) -> int:
    return int(log.db.execute("SELECT COUNT(*) FROM dagwright_outcomes").fetchone()[0])


def test_an_outcome_posted_after_a_served_prediction_joins_it_and_an_unknown_key_is_a_422(
    world: dict,  # noqa: F811
    tmp_path: Path,
) -> None:
    from fastapi.testclient import TestClient

    from flows.language.load import load
    from flows.plan.planner import plan_project
    from flows.serve.app import create_app
    from flows.serve.settings import ServeSettings

    name = model_name()
    train(world, name, "strong.parquet")
    file = tmp_path / "project" / "pipelines.yaml"
    file.parent.mkdir()
    file.write_text(SERVED.format(uri=world["registry"].uri, name=name))
    with TestClient(create_app(plan_project(load(file)), ServeSettings())) as client:
        said = client.post("/v1/pipelines/classify/run", json={"text": "stale and bitter", "key": "order-17"})
        assert said.status_code == 200, said.text
        predicted = said.json()["outputs"]["classify.prediction"]
        label = "other" if predicted == "great" else "great"
        recorded = client.post("/v1/pipelines/record-outcome/run", json={"key": "order-17", "label": label})
        assert recorded.status_code == 200, recorded.text
        outcome = recorded.json()["outputs"]["record.outcome"]
        assert (outcome["predicted"], outcome["label"], outcome["right"]) == (predicted, label, False)
        assert outcome["model_version"] == said.json()["outputs"]["classify.model_version"]
        unknown = client.post("/v1/pipelines/record-outcome/run", json={"key": "order-99", "label": "great"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "invalid_input", unknown.text
    assert "never predicted for key 'order-99'" in unknown.json()["detail"]
    served = open_resource(PredictionLog)  # the served project's log: the test's DAGWRIGHT_HOME
    try:
        assert [(o.prediction, o.label) for o in served.outcomes(name)] == [(predicted, label)]
        assert outcome_rows(served) == 1  # the refused outcome left nothing
    finally:
        served.close()


def test_online_outcomes_that_find_the_challenger_worse_refuse_a_promotion_the_held_out_set_favours(
    world: dict,  # noqa: F811
) -> None:
    name, log = model_name(), world["log"]
    train(world, name, "weak.csv")
    train(world, name, "strong.parquet")  # the held-out set favours it (test_models.py promotes it)
    component = classifier(world, name, weights={"champion": 0.5, "challenger": 0.5})
    before = outcome_rows(log)
    for i in range(160):
        found = component.run("the coffee arrived on time and tastes fine", f"user-{i}")
        wrong = "other" if found.prediction == "great" else "great"
        log.record_outcome(name, f"user-{i}", found.prediction if found.alias == "champion" else wrong)
    assert outcome_rows(log) == before + 160
    report = promote(world, name)
    assert report.decision == "kept", report.present()
    assert "significantly worse on online outcomes" in report.reason
    assert report.test.p_value < 0.05  # McNemar alone would have promoted
    online = report.online
    assert online["champion"]["right"] == online["champion"]["outcomes"] >= 30
    assert online["challenger"]["right"] == 0 and online["challenger"]["outcomes"] >= 30
    assert world["registry"].aliases(name) == {"champion": "1", "challenger": "2"}
    run = world["registry"].client.get_run(report.run_id)
    assert run.data.metrics["online_challenger_outcomes"] == online["challenger"]["outcomes"]
