"""The samples `drift.check` compares: reading them, and checking that reference and current have the same schema.

A sample is a CSV or Parquet file (``read_sample``) or a Feast feature view's rows in a time window
(``feast:VIEW@START..END``, components/drift_feast.py, which needs the check's `feast.store` resource); everything
after the reading works on DataFrames.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.base import PermanentError
from components.drift_stats import Kind

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}


class DriftInputError(PermanentError):
    """A sample cannot be read, or reference and current do not have the same columns and types."""


def read_sample(source: str, role: str) -> pd.DataFrame:
    """The rows of ``source`` (a .csv or .parquet path); ``role`` (reference, current) names it in errors."""
    import pandas as pd

    path = Path(source)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DriftInputError(f"{role} '{source}': expected a .csv or .parquet file")
    if not path.is_file():
        raise DriftInputError(f"{role} '{source}': no such file (looked in {path.resolve()})")
    try:
        return pd.read_csv(path) if kind == "CSV" else pd.read_parquet(path)
    except Exception as exc:  # a parser's error names no file: say which one, in one line
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise DriftInputError(f"{role} '{source}': cannot read it as {kind}: {type(exc).__name__}: {first}") from None


def column_kind(series: pd.Series) -> Kind:
    """Numbers and times are compared as numbers; text, categories and booleans as categories."""
    from pandas.api import types

    if types.is_bool_dtype(series):
        return "categorical"
    if types.is_numeric_dtype(series) or types.is_datetime64_any_dtype(series):
        return "numeric"
    return "categorical"


def as_floats(series: pd.Series) -> Any:
    """A numeric column as float64 with NaN for missing; times as nanoseconds since the epoch."""
    import numpy as np
    from pandas.api import types

    if types.is_datetime64_any_dtype(series):
        values = series.to_numpy(dtype="datetime64[ns]").astype("int64").astype(np.float64)
        values[series.isna().to_numpy()] = np.nan
        return values
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def compared_columns(reference: pd.DataFrame, current: pd.DataFrame, wanted: list[str]) -> dict[str, Kind]:
    """Column -> kind of the columns to compare (``wanted``, or all of the reference's); a column missing on
    either side or of another kind on each side is an error naming every such column at once."""
    names = wanted or list(reference.columns)
    problems = []
    for role, frame in (("reference", reference), ("current", current)):
        missing = [c for c in names if c not in frame.columns]
        if missing:
            problems.append(f"{role} has no column(s) {missing}; it has {list(frame.columns)}")
    if not wanted:
        extra = [c for c in current.columns if c not in reference.columns]
        if extra:
            problems.append(f"current has column(s) {extra} that reference lacks")
    if problems:
        raise DriftInputError("schema mismatch: " + "; ".join(problems))
    kinds = {c: (column_kind(reference[c]), column_kind(current[c])) for c in names}
    clashes = [f"'{c}' is {r} ({reference[c].dtype}) in reference, {k} ({current[c].dtype}) in current"
               for c, (r, k) in kinds.items() if r != k]  # fmt: skip
    if clashes:
        raise DriftInputError("schema mismatch: " + "; ".join(clashes))
    return {c: r for c, (r, _) in kinds.items()}
