"""`dagwright serve` with the LLM gateway over two real llama.cpp servers on loopback (SmolLM2): who asked
reaches the gateway, a spent budget is a 429, the LLM metrics move with real calls, a client that leaves stops
the generation, and a provider killed mid-stream ends the stream with an error instead of repeating tokens."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO
from tests.helpers.llmservers import LlamaServer, free_port, primary_and_backup
from tests.helpers.processes import interrupt_group, wait_ready
from tests.helpers.servefns import grounded

pytestmark = pytest.mark.integration

PROJECT = """
version: 1
resources:
  llm:
    uses: llm.gateway
    with:
      providers:
        primary: {kind: llama_cpp, base_url: "%(primary)s", max_retries: 0}
        backup: {kind: llama_cpp, base_url: "%(backup)s", max_retries: 0}
      route: [primary, backup]
      prices: {smollm2-135m-instruct: {input_per_1k: 0.01, output_per_1k: 0.02}}
      budgets: {daily_tokens: {capped: 700}}
      cache: {exact: true, semantic: {threshold: 0.95}}
  raw: {uses: llm.openai, with: {base_url: "%(primary)s", max_retries: 0}}   # no gateway
pipelines:
  who:
    serve: true
    params: {question: {type: string, min_length: 1}}
    stages:
      ask:
        uses: python.call
        with: {function: "tests.helpers.servefns:caller"}
        inputs: {question: "${params.question}"}"""
PROJECT += grounded("tell", "{llm: llm, max_tokens: 300, temperature: 0.8, frequency_penalty: 0.0}", "{chat: true}")
PROJECT += grounded("greedy", "{llm: llm, max_tokens: 6, temperature: 0}")
PROJECT += grounded("capped", "{llm: llm, max_tokens: 8, temperature: 0.8}")
# without the gateway; the engine's retries never run for a stream that already sent tokens
PROJECT += grounded(
    "direct", "{llm: raw, max_tokens: 300, temperature: 0.8, frequency_penalty: 0.0}", extra="retries: 2"
)
KEY = "streams-key-" + uuid.uuid4().hex
LONG = "Write a very long story about a cat who keeps the results of stages, with many details."


@dataclass(frozen=True)
class Served:
    url: str
    home: Path
    log: Path
    primary: LlamaServer
    backup: LlamaServer

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {KEY}"}

    def records(self, pipeline: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.home / "usage.sqlite") as db:
            query = "SELECT run_id, provider, outcome, cache, fallback, tokens_out FROM calls WHERE pipeline = ?"
            return db.execute(query + " ORDER BY rowid", (pipeline,)).fetchall()

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples whose labels include ``labels``."""
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{self.url}/metrics").text
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name and labels.items() <= s.labels.items()
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("streams")
    project, port, log = root / "project", free_port(), root / "serve.log"
    shutil.copytree(REPO / "prompts", project / "prompts")
    env = {**os.environ, "DAGWRIGHT_API_KEYS": f"acme:{KEY}", "DAGWRIGHT_HOME": str(project / ".dagwright")}
    env["PYTHONPATH"] = str(REPO)  # the pipelines call tests.helpers
    command = [sys.executable, "-m", "flows.cli", "-f", str(project / "pipelines.yaml"), "serve", "--port", str(port)]
    with primary_and_backup(root) as (primary, backup):
        (project / "pipelines.yaml").write_text(PROJECT % {"primary": primary.url, "backup": backup.url})
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, process, log)
            yield Served(url, project / ".dagwright", log, primary, backup)
        finally:
            interrupt_group(process, timeout=60)
    assert "Traceback" not in log.read_text()


def _events(reply: httpx.Response) -> Iterator[tuple[str, Any]]:
    event = ""
    for line in reply.iter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield event, json.loads(line.removeprefix("data: "))


def _idle_within(server: LlamaServer, seconds: float) -> float:
    """Seconds until every slot of ``server`` is idle; fails after ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if not any(slot["is_processing"] for slot in server.slots()):
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"llama.cpp still generating {seconds} s after the client left: {server.slots()}")


def test_the_caller_reaches_the_stages_and_the_gateway(served: Served) -> None:
    reply = httpx.post(f"{served.url}/v1/pipelines/who/run", json={"question": "hi"}, headers=served.headers)
    assert reply.status_code == 200, reply.text
    seen = reply.json()["outputs"]["ask.output"]
    key_id = hashlib.sha256(KEY.encode()).hexdigest()[:12]
    assert seen == {"endpoint": "/v1/pipelines/who/run", "org": "acme", "key_id": key_id, "pipeline": "who"}
    assert KEY not in reply.text


def test_a_spent_budget_is_a_429_with_retry_after_until_the_utc_day_ends(served: Served) -> None:
    ask = {"question": "When is a cached stage result reused?"}
    statuses = []
    for _ in range(6):  # each call reserves its prompt (~250 tokens) + 8; the budget is 700 tokens a day
        reply = httpx.post(f"{served.url}/v1/pipelines/capped/run", json=ask, headers=served.headers, timeout=120)
        statuses.append(reply.status_code)
        if reply.status_code == 429:
            break
    assert statuses[0] == 200 and statuses[-1] == 429, statuses
    body = reply.json()
    assert body["code"] == "budget_exceeded" and reply.headers["content-type"] == "application/problem+json"
    assert "daily budget of 700 tokens exhausted" in body["detail"] and body["stage"] == "generate"
    now = datetime.datetime.now(datetime.UTC)
    midnight = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time(), datetime.UTC)
    assert abs(int(reply.headers["retry-after"]) - (midnight - now).total_seconds()) < 5
    assert [r[2] for r in served.records("capped")][-1] == "refused"  # and the refusal is recorded
    assert served.metric("dagwright_llm_calls_total", pipeline="capped", outcome="refused") == 1


def test_llm_metrics_move_with_real_calls(served: Served) -> None:
    labels = {"pipeline": "greedy", "model": "smollm2-135m-instruct", "prompt": "rag-answer@1"}
    before = {
        name: served.metric(name, **labels)
        for name in ("dagwright_llm_tokens_total", "dagwright_llm_cost_usd_total", "dagwright_llm_calls_total")
    }
    asked = ["Where do secrets live?", "Where do secrets live?", "Where do the secrets live?"]
    made = []
    for question in asked:  # a miss, an exact hit, a semantic hit
        reply = httpx.post(
            f"{served.url}/v1/pipelines/greedy/run", json={"question": question}, headers=served.headers, timeout=120
        )
        assert reply.status_code == 200, reply.text
        made.append(reply.json()["outputs"]["generate.answer"]["served_by"])
    assert made == ["model", "exact_cache", "semantic_cache"]
    for outcome in ("miss", "exact", "semantic"):
        assert served.metric("dagwright_llm_cache_total", outcome=outcome, **labels) == 1
    prompt_tokens = served.metric("dagwright_llm_tokens_total", kind="prompt", **labels)
    completion = served.metric("dagwright_llm_tokens_total", kind="completion", **labels)
    assert prompt_tokens > 100 and 1 <= completion <= 6  # the model's call only: hits spend no tokens
    cost = served.metric("dagwright_llm_cost_usd_total", **labels) - before["dagwright_llm_cost_usd_total"]
    assert cost == pytest.approx((prompt_tokens * 0.01 + completion * 0.02) / 1000)
    assert served.metric("dagwright_llm_calls_total", **labels) - before["dagwright_llm_calls_total"] == 3
    assert served.metric("dagwright_llm_call_duration_seconds_count", cache="miss", **labels) == 1
    assert served.metric("dagwright_llm_breaker_state", provider="primary", state="closed") == 1


def test_a_streaming_client_that_leaves_stops_the_generation(served: Served) -> None:
    before = served.metric("dagwright_requests_total", pipeline="tell", status="499")
    with httpx.stream(
        "POST",
        f"{served.url}/v1/pipelines/tell/stream",
        json={"question": LONG},
        headers=served.headers,
        timeout=120,
    ) as reply:
        tokens = 0
        for kind, _ in _events(reply):
            tokens += kind == "token"
            if tokens == 3:
                break  # leaving the block closes the connection mid-stream
    left = time.monotonic()
    # 300 tokens at ~50-100 a second would keep the slot busy for seconds; it is idle at once.
    _idle_within(served.primary, 1.5)
    deadline = left + 5
    while served.records("tell")[-1:] == [] or served.records("tell")[-1][2] != "cancelled":
        assert time.monotonic() < deadline, served.records("tell")
        time.sleep(0.05)
    assert served.records("tell")[-1][1] == "primary"  # and nothing went on to the backup
    assert served.metric("dagwright_requests_total", pipeline="tell", status="499") == before + 1

    # The official client, streaming a chat completion, closes its stream after two chunks: the same.
    from openai import OpenAI

    client = OpenAI(base_url=f"{served.url}/v1", api_key=KEY, max_retries=0)
    stream = client.chat.completions.create(model="tell", messages=[{"role": "user", "content": LONG}], stream=True)
    for n, _ in enumerate(stream):
        if n == 2:
            break
    stream.close()
    _idle_within(served.primary, 1.5)
    started = time.monotonic()  # the freed slot answers the next request at once
    first = client.chat.completions.create(model="tell", messages=[{"role": "user", "content": "Hi"}], max_tokens=3)
    assert first.choices[0].message.content is not None and time.monotonic() - started < 10


def test_chat_max_tokens_and_temperature_reach_the_generator(served: Served) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{served.url}/v1", api_key=KEY, max_retries=0)
    ask: Any = [{"role": "user", "content": "Where are stage results kept?"}]
    short = client.chat.completions.create(model="tell", messages=ask, max_tokens=4)
    assert short.usage is not None and 1 <= short.usage.completion_tokens <= 4  # `tell` says 300
    # temperature 0 makes `tell` (0.8 in its YAML) greedy, so the gateway's exact cache serves it the second time
    first = client.chat.completions.create(model="tell", messages=ask, max_tokens=5, temperature=0)
    again = client.chat.completions.create(model="tell", messages=ask, max_tokens=5, temperature=0)
    assert (first.model_extra or {})["dagwright"]["cache"] == "model"
    assert (again.model_extra or {})["dagwright"]["cache"] == "exact_cache"
    assert again.choices[0].message.content == first.choices[0].message.content


def _killed_mid_stream(served: Served, pipeline: str) -> list[tuple[str, Any]]:
    """The events of a stream whose provider, the primary, is killed after its third token."""
    events = []
    with httpx.stream(
        "POST",
        f"{served.url}/v1/pipelines/{pipeline}/stream",
        json={"question": LONG},
        headers=served.headers,
        timeout=120,
    ) as reply:
        for kind, data in _events(reply):
            events.append((kind, data))
            if kind == "token" and len(events) == 3:
                served.primary.kill()
    return events


def test_a_provider_killed_mid_stream_ends_the_stream_with_an_error_and_repeats_nothing(served: Served) -> None:
    """Last in the module: it kills the primary (and starts it again)."""
    backup_tasks = [s.get("id_task") for s in served.backup.slots()]
    events = _killed_mid_stream(served, "tell")
    kinds = [k for k, _ in events]
    assert kinds[-1] == "error" and "done" not in kinds and set(kinds[:-1]) == {"token"}, kinds
    error = events[-1][1]
    assert error["code"] == "stream_interrupted" and error["status"] == 502
    assert "provider 'primary' failed mid-stream" in error["detail"]
    # Neither a retry nor the fallback ran: no token was sent twice, and the backup got no request.
    assert [s.get("id_task") for s in served.backup.slots()] == backup_tasks
    assert served.records("tell")[-1][1:3] == ("primary", "error")

    # Before the first token, the fallback is still transparent: the backup answers, counted as a fallback.
    reply = httpx.post(
        f"{served.url}/v1/pipelines/tell/stream", json={"question": "Hi"}, headers=served.headers, timeout=120
    )
    assert "event: done" in reply.text
    assert served.metric("dagwright_llm_fallbacks_total", pipeline="tell", provider="backup") == 1
    served.primary.start()

    # Without the gateway, llm.openai: the stage's own retries would send the tokens again; they do not run.
    events = _killed_mid_stream(served, "direct")
    assert [k for k, _ in events][-1] == "error" and "done" not in [k for k, _ in events]
    assert events[-1][1]["code"] == "stream_interrupted" and "llm.openai failed mid-stream" in events[-1][1]["detail"]
    served.primary.start()
