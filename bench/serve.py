"""`dagwright serve` overhead (issue 10): `POST /v1/pipelines/NAME/run` through uvicorn on loopback against the
in-process call of the same pipeline (`run_local` with the app's own session), measured in the same run.

The pipeline is one deterministic `python.call` stage whose result the content-hash cache serves after the first
run, as the exact cache serves a repeated question: what is left is the engine's work plus serving's (HTTP,
validation, auth, rate limit, JSON). Target (issue 10): serving adds under 2 ms at p50.

Then time to first token: `POST /v1/pipelines/NAME/stream` of a pipeline whose generator uses the embedded
llama.cpp model (llm.openai, two fixed passages, 8 tokens) until its first `token` event, against the same
rendered messages streamed from the raw llama.cpp server by the resource's own client, alternated, same run.

Then throughput: 16 requests from 8 threads at once, `POST /run` of that pipeline against the same messages sent
to the raw server, in answers a second.

Last, the local server's parallel slots: the same 16 requests from 8 threads against a raw llama.cpp server with
`--parallel 1` and one with the default (components/llmserver.py DEFAULT_PARALLEL), each started for it.

    .venv/bin/python bench/serve.py            # 400 requests each way, 10 streams each way
    .venv/bin/python bench/serve.py --quick    # 100 and 5
    .venv/bin/python bench/serve.py --slots    # the slots comparison alone
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
from typing import Any

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
  stream:
    serve: true
    params: {question: {type: string, min_length: 1}}
    stages:
      find:
        uses: python.call
        with: {function: "tests.helpers.servefns:passages"}
        inputs: {question: "${params.question}"}
      generate:
        uses: generator.answer
        with: {llm: direct, max_tokens: 8, prompts_dir: "%(prompts)s"}
        inputs: {question: "${params.question}", documents: find.output}
        cache: false
resources:
  direct: {uses: llm.openai}
"""
KEY = "bench-key"
QUESTION = "When is a cached stage result reused?"


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
    parser.add_argument("--slots", action="store_true", help="only the local server's slots: 1 against the default")
    args = parser.parse_args()
    repeat = 100 if args.quick else 400
    home = Path(tempfile.mkdtemp(prefix="dagwright-bench-serve-"))
    os.environ["DAGWRIGHT_HOME"] = str(home / ".dagwright")
    (home / "pipelines.yaml").write_text(PIPELINES % {"prompts": REPO / "prompts"})
    if args.slots:
        return parallel_throughput(home)

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
            streams = 5 if repeat < 400 else 10
            through, raw = first_tokens(client, app.state.serve.resources["direct"], streams)
            served_rate, raw_rate = throughputs(app.state.serve.resources["direct"])
    finally:
        server.should_exit = True
        thread.join(10)
    report(inproc, http, repeat)
    ms = 1000
    print(f"time to first token, {streams} streams each way (alternated), embedded SmolLM2")
    print(f"  raw llama.cpp  p50 {statistics.median(raw) * ms:7.1f} ms")
    print(f"  via /stream    p50 {statistics.median(through) * ms:7.1f} ms")
    extra = (statistics.median(through) - statistics.median(raw)) * ms
    print(f"  serving adds {extra:.1f} ms; ratio {statistics.median(through) / statistics.median(raw):.2f}x")
    print("throughput, 16 requests from 8 threads at once")
    print(f"  raw llama.cpp  {raw_rate:6.2f} answers/s")
    print(f"  POST /run      {served_rate:6.2f} answers/s   ratio {served_rate / raw_rate:.2f}x")
    parallel_throughput(home)


def parallel_throughput(home: Path, requests: int = 16, threads: int = 8, rounds: int = 3) -> None:
    """Answers a second of a raw llama.cpp server with one slot and of one with the default number of slots,
    both up at once and measured in alternating rounds (medians), so that load from elsewhere hits both alike.
    Each request asks its own question, so the prompts differ as real ones do (llama.cpp reuses a slot's prompt)."""
    from openai import OpenAI

    from components.llmserver import DEFAULT_PARALLEL, LOCAL_MODEL, LocalServer

    counts = (1, DEFAULT_PARALLEL)
    servers = {n: LocalServer(home / f"llm-{n}.log", context=2048, threads=2, parallel=n) for n in counts}
    clients = {n: OpenAI(base_url=server.start(), api_key="unused", max_retries=0) for n, server in servers.items()}
    rates: dict[int, list[float]] = {n: [] for n in counts}

    def asker(client: Any) -> Callable[[int], object]:
        def ask(n: int) -> object:
            messages = [*_messages()[:-1], {"role": "user", "content": f"Question {n}: {QUESTION}"}]
            return client.chat.completions.create(model=LOCAL_MODEL, messages=messages, max_tokens=48, temperature=0.7)

        return ask

    try:
        for n in counts:
            asker(clients[n])(0)  # warm
        for round_ in range(rounds):
            for n in counts if round_ % 2 == 0 else counts[::-1]:
                rates[n].append(_rate(asker(clients[n]), requests, threads))
    finally:
        for n in counts:
            clients[n].close()
            servers[n].stop()
    medians = {n: statistics.median(values) for n, values in rates.items()}
    print(f"local llama.cpp server: {requests} requests (<= 48 tokens) from {threads} threads at once, {rounds} rounds")
    for n, rate in medians.items():
        print(f"  --parallel {n}   {rate:6.2f} answers/s")
    print(f"  ratio {medians[DEFAULT_PARALLEL] / medians[1]:.2f}x")


def _rate(ask: Callable[[int], object], requests: int, threads: int) -> float:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        started = time.perf_counter()
        list(pool.map(ask, range(requests)))
        return requests / (time.perf_counter() - started)


def throughputs(llm: Any, requests: int = 16, threads: int = 8) -> tuple[float, float]:
    """Answers a second through `POST /run` and from the raw server, each with ``threads`` callers at once."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    messages = _messages()
    options = {"temperature": 0.1, "frequency_penalty": 0.5, "max_tokens": 8}

    def served(_: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", headers={"authorization": f"Bearer {KEY}"}) as c:
            assert c.post("/v1/pipelines/stream/run", json={"question": QUESTION}, timeout=120).status_code == 200

    def raw(_: int) -> None:
        llm.client.chat.completions.create(model=llm.params.model, messages=messages, **options)

    rates = []
    for fn in (served, raw):
        with ThreadPoolExecutor(threads) as pool:
            started = time.perf_counter()
            list(pool.map(fn, range(requests)))
            rates.append(requests / (time.perf_counter() - started))
    return rates[0], rates[1]


def _messages() -> list[dict[str, str]]:
    from components.generators import format_context
    from components.prompts import load_prompt
    from tests.helpers.servefns import passages

    context = format_context(passages(QUESTION))
    return load_prompt("rag-answer@1", REPO / "prompts").render(question=QUESTION, context=context)


def first_tokens(client: Any, llm: Any, repeat: int) -> tuple[list[float], list[float]]:
    """Seconds to the first token through /stream and from the raw server, alternated so load hits both alike."""
    messages = _messages()
    through, raw = [], []
    for n in range(repeat + 1):  # the first round warms both up and is not counted
        # Which goes first swaps each round: llama.cpp reuses the previous request's prompt (its KV cache).
        if n % 2:
            a, b = _through(client), _raw(llm, messages)
        else:
            b, a = _raw(llm, messages), _through(client)
        if n:
            through.append(a)
            raw.append(b)
    return through, raw


def _through(client: Any) -> float:
    started = time.perf_counter()
    first = None
    with client.stream("POST", "/v1/pipelines/stream/stream", json={"question": QUESTION}, timeout=120) as reply:
        for line in reply.iter_lines():
            if first is None and line == "event: token":
                first = time.perf_counter() - started
    assert first is not None, "no token event"
    return first


def _raw(llm: Any, messages: list[dict[str, str]]) -> float:
    started = time.perf_counter()
    options = {"temperature": 0.1, "frequency_penalty": 0.5}  # generator.answer's defaults
    chunks = llm.client.chat.completions.create(
        model=llm.params.model, messages=messages, max_tokens=8, stream=True, **options
    )
    first = None
    for chunk in chunks:  # read to the end, as the pipeline does, so both leave the server alike
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    assert first is not None, "no token"
    return first


def report(inproc: list[float], http: list[float], repeat: int) -> None:
    ms = 1000
    print(f"POST /v1/pipelines/echo/run vs run_local of the same pipeline (result cached), {repeat} calls each")
    for name, values in (("in process", inproc), ("served", http)):
        print(f"  {name:10}  p50 {p(values, 50) * ms:7.3f} ms   p95 {p(values, 95) * ms:7.3f} ms")
    overhead = (p(http, 50) - p(inproc, 50)) * ms
    print(f"  serving overhead at p50: {overhead:.3f} ms (target < 2 ms); ratio {p(http, 50) / p(inproc, 50):.2f}x")


if __name__ == "__main__":
    main()
