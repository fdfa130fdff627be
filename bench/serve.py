"""`dagwright serve` overhead (issue 10): `POST /v1/pipelines/NAME/run` through uvicorn on loopback against the
in-process call of the same pipeline (`run_local` with the app's own session), measured in the same run.

The pipeline is one deterministic `python.call` stage whose result the content-hash cache serves after the first
run, as the exact cache serves a repeated question: what is left is the engine's work plus serving's (HTTP,
validation, auth, rate limit, JSON). Target (issue 10): serving adds under 2 ms at p50.

    .venv/bin/python bench/serve.py            # 400 requests each way
    .venv/bin/python bench/serve.py --quick    # 100
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PORT = 8614
PIPELINES = """
version: 1
pipelines:
  echo:
    serve: true
    params:
      question: {type: string, min_length: 1, max_length: 200}
      times: {type: integer, default: 2, minimum: 1, maximum: 5}
    stages:
      shout:
        uses: python.call
        with: {function: "tests.helpers.servefns:shout"}
        inputs: {question: "${params.question}", times: "${params.times}"}
"""
KEY = "bench-key"


def timings(fn: Callable[[], object], repeat: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        fn()
    found = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        found.append(time.perf_counter() - started)
    return found


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if q < 100 else max(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    repeat = 100 if parser.parse_args().quick else 400
    home = Path(tempfile.mkdtemp(prefix="dagwright-bench-serve-"))
    os.environ["DAGWRIGHT_HOME"] = str(home / ".dagwright")
    (home / "pipelines.yaml").write_text(PIPELINES)

    import httpx
    import uvicorn

    from flows.execute.local import run_local
    from flows.language.load import load
    from flows.plan.planner import plan_project
    from flows.serve.app import create_app
    from flows.serve.settings import ServeSettings

    plans = plan_project(load(home / "pipelines.yaml"))
    # Auth and the in-memory rate limiter on, as in production; the limit is high enough never to refuse.
    app = create_app(plans, ServeSettings(keys_text=f"bench:{KEY}", key_rate=10**9, org_rate=10**9))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=PORT, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        params = {"question": "How are results cached?"}
        session, plan = app.state.serve.session, plans["echo"]

        def direct() -> None:
            assert run_local(plan, params, session=session).ok

        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", headers={"authorization": f"Bearer {KEY}"}) as client:

            def served() -> None:
                assert client.post("/v1/pipelines/echo/run", json=params).status_code == 200

            inproc, http = timings(direct, repeat), timings(served, repeat)
    finally:
        server.should_exit = True
        thread.join(10)
    report(inproc, http, repeat)


def report(inproc: list[float], http: list[float], repeat: int) -> None:
    ms = 1000
    print(f"POST /v1/pipelines/echo/run vs run_local of the same pipeline (result cached), {repeat} calls each")
    for name, values in (("in process", inproc), ("served", http)):
        print(f"  {name:10}  p50 {p(values, 50) * ms:7.3f} ms   p95 {p(values, 95) * ms:7.3f} ms")
    overhead = (p(http, 50) - p(inproc, 50)) * ms
    print(f"  serving overhead at p50: {overhead:.3f} ms (target < 2 ms); ratio {p(http, 50) / p(inproc, 50):.2f}x")


if __name__ == "__main__":
    main()
