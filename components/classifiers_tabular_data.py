"""Labelled entity rows for a tabular classifier, and the frames it trains and is compared on.

`labels.window` cuts a time window out of a labels file (feature_repo/data/flight_labels.parquet: the flights'
join keys, `event_timestamp` and the 0/1 label `delayed`, null for a cancelled flight), drops the unlabelled rows,
thins it to at most `limit` rows spread evenly over the window, and writes the entity file that
`features.historical` turns into a point-in-time training set. Every problem is a `TrainingDataError` naming the
file and the window, raised before anything is trained or registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from components.base import Component, ComponentParams
from components.classifiers_data import TrainingDataError

TIMESTAMP = "event_timestamp"


class WindowParams(ComponentParams):
    source: str = Field(
        "feature_repo/data/flight_labels.parquet", min_length=1, description="Labels file: join keys, time, label."
    )
    label_column: str = Field("delayed", min_length=1, description="The 0/1 label column; null rows are dropped.")
    start: str = Field(min_length=1, description="First time kept (ISO date or time, UTC).")
    end: str = Field(min_length=1, description="First time no longer kept (ISO date or time, UTC).")
    limit: int = Field(20000, ge=10, description="At most this many rows, spread evenly over the window in time.")
    out: str = Field(min_length=1, description="The entity file to write (parquet).")


@dataclass
class Windowed:
    entities: str  # the entity file's path, for features.historical


class LabelWindow(Component[WindowParams]):
    """The labelled rows of a time window, thinned to `limit`, written as an entity file for `features.historical`.

    Example:

    ```yaml
    uses: labels.window
    with: {start: "2013-01-01", end: "2013-03-01", limit: 12000, out: .dagwright/features/flight-delay-train.parquet}
    ```
    """

    name = "labels.window"
    cacheable = False  # it reads a file that `features-apply` rewrites
    writes = True

    def run(self) -> Windowed:
        p = self.params
        frame = window(read_labels(p.source, p.label_column), p)
        target = Path(p.out)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")  # a reader never sees half a file
        frame.to_parquet(partial, index=False)
        partial.replace(target)
        return Windowed(str(target))


def read_labels(source: str, label_column: str) -> Any:
    import pandas as pd

    path = Path(source)
    if not path.is_file():
        raise TrainingDataError(f"labels '{source}': no such file (the features-apply pipeline writes it)")
    frame = pd.read_parquet(path)
    missing = [c for c in (TIMESTAMP, label_column) if c not in frame.columns]
    if missing:
        raise TrainingDataError(
            f"labels '{source}': no column {' or '.join(map(repr, missing))}; columns are: {', '.join(frame.columns)}"
        )
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True)
    return frame


def window(frame: Any, p: WindowParams) -> Any:
    """The rows of [start, end) with a label, in time order, thinned evenly to at most ``limit``."""
    import numpy as np
    import pandas as pd

    try:
        start, end = pd.Timestamp(p.start, tz="UTC"), pd.Timestamp(p.end, tz="UTC")
    except ValueError:
        raise TrainingDataError(f"labels window {p.start} to {p.end}: not ISO dates or times") from None
    kept = frame[(frame[TIMESTAMP] >= start) & (frame[TIMESTAMP] < end) & frame[p.label_column].notna()]
    if kept.empty:
        span = f"{frame[TIMESTAMP].min()} to {frame[TIMESTAMP].max()}" if len(frame) else "no rows"
        raise TrainingDataError(
            f"labels '{p.source}': no labelled rows from {p.start} to {p.end}; the file spans {span}"
        )
    kept = kept.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    if len(kept) > p.limit:
        kept = kept.iloc[np.linspace(0, len(kept) - 1, p.limit).round().astype(int)].reset_index(drop=True)
    return kept


def feature_matrix(frame: Any, names: list[str], where: str) -> Any:
    """``frame``'s ``names`` columns as float32 [N, F], NaN where missing (the model's own input type, so what
    scikit-learn is fitted and checked on is what ONNX Runtime receives)."""
    import numpy as np

    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise TrainingDataError(
            f"{where}: the frame has no column {', '.join(missing)}; its columns are: {', '.join(frame.columns)}"
        )
    return frame[names].astype("float64").to_numpy(dtype=np.float32)


def label_strings(frame: Any, column: str, values: dict[str, str], where: str) -> Any:
    """The 0/1 label column as the model's labels (``values``: "1" -> "delayed", "0" -> "on_time")."""
    import numpy as np

    if column not in frame.columns:
        raise TrainingDataError(f"{where}: no label column '{column}'; columns are: {', '.join(frame.columns)}")
    codes = frame[column].astype("int64").astype(str).to_numpy()
    unknown = sorted(set(codes) - set(values))
    if unknown:
        raise TrainingDataError(f"{where}: label values {unknown} are not among {sorted(values)}")
    return np.asarray([values[c] for c in codes], dtype=object)
