"""`dagwright serve` for real: the CLI's uvicorn server on loopback with the embedded llama.cpp model (few calls,
few tokens: the model is slow on a shared 2-core machine), and rate limits counted in the real Redis."""

from __future__ import annotations

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
from fastapi.testclient import TestClient

from flows.language.load import load
from flows.plan.planner import plan_project
from flows.serve.app import create_app
from flows.serve.settings import ServeSettings
from tests.conftest import REPO
from tests.flows.test_serve import PIPELINES, is_problem
from tests.helpers.processes import interrupt_group, wait_ready

pytestmark = pytest.mark.integration

PORT = 8612
REDIS = "redis://127.0.0.1:6379/0"
GROUNDED = """
version: 1
resources:
  llm: {uses: llm.gateway}   # the embedded model behind the LLM gateway, as rag-query uses it
  direct: {uses: llm.openai}   # the embedded model without the gateway
pipelines:
  direct:
    serve: true
    params: {question: {type: string, min_length: 1}}
    stages:
      find:
        uses: python.call
        with: {function: "tests.helpers.servefns:passages"}
        inputs: {question: "${params.question}"}
      generate:
        uses: generator.answer
        with: {llm: direct, max_tokens: 6}
        inputs: {question: "${params.question}", documents: find.output}
  ask:
    description: Answer from two fixed passages with the embedded model.
    serve: {chat: true}
    params:
      question: {type: string, min_length: 1, max_length: 500}
      max_tokens: {type: integer, default: 12, minimum: 1, maximum: 64}
    stages:
      find:
        uses: python.call
        with: {function: "tests.helpers.servefns:passages"}
        inputs: {question: "${params.question}"}
      generate:
        uses: generator.answer
        with: {llm: llm, max_tokens: "${params.max_tokens}"}
        inputs: {question: "${params.question}", documents: find.output}
"""
KEY = "it-key-" + uuid.uuid4().hex


@dataclass(frozen=True)
class Server:
    url: str
    home: Path  # its DAGWRIGHT_HOME


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    project = tmp_path_factory.mktemp("served")
    (project / "pipelines.yaml").write_text(GROUNDED)
    shutil.copytree(REPO / "prompts", project / "prompts")
    env = {**os.environ, "DAGWRIGHT_API_KEYS": f"it:{KEY}", "DAGWRIGHT_HOME": str(project / ".dagwright")}
    env["PYTHONPATH"] = str(REPO)  # the pipelines call tests.helpers
    command = [sys.executable, "-m", "flows.cli", "-f", str(project / "pipelines.yaml"), "serve", "--port", str(PORT)]
    log = (project / "serve.log").open("wb")
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{PORT}"
    try:
        wait_ready(url, process, project / "serve.log")
        yield Server(url, project / ".dagwright")
    finally:
        interrupt_group(process, timeout=60)
        log.close()
    assert "Traceback" not in (project / "serve.log").read_text()


def test_the_official_openai_client_against_the_real_model(server: Server) -> None:
    from openai import AuthenticationError, OpenAI

    client = OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)
    question: Any = [{"role": "user", "content": "Where are stage results kept?"}]
    reply = client.chat.completions.create(model="ask", messages=question, max_tokens=8)
    assert reply.choices[0].message.content and reply.usage is not None
    assert 0 < reply.usage.completion_tokens <= 8
    # The gateway recorded the call under the response's run id, so `dagwright usage` finds the request.
    run_id = (reply.model_extra or {})["dagwright"]["run_id"]
    with sqlite3.connect(server.home / "usage.sqlite") as db:
        rows = db.execute("SELECT pipeline, outcome FROM calls WHERE run_id = ?", (run_id,)).fetchall()
    assert rows == [("ask", "ok")]

    chunks = list(client.chat.completions.create(model="ask", messages=question, max_tokens=8, stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1  # the model's tokens, streamed one by one, not the answer in one piece
    assert chunks[-1].choices[0].finish_reason == "stop"

    with pytest.raises(AuthenticationError):
        OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0).models.list()


def test_an_sse_client_reads_tokens_then_the_final_event(server: Server) -> None:
    events: list[tuple[str, Any, float]] = []
    body = {"question": "When is a cached stage result reused?", "max_tokens": 10}
    headers = {"authorization": f"Bearer {KEY}", "accept": "text/event-stream"}
    with httpx.stream(
        "POST", f"{server.url}/v1/pipelines/ask/stream", json=body, headers=headers, timeout=120
    ) as reply:
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in reply.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((event, json.loads(line.removeprefix("data: ")), time.monotonic()))
    kinds = [k for k, _, _ in events]
    assert kinds[-1] == "done" and kinds.count("token") > 1 and set(kinds[:-1]) == {"token"}
    done = events[-1][1]
    assert done["text"].startswith("".join(e[1]["text"] for e in events[:-1]).strip())
    assert [s["source"] for s in done["sources"]] == ["notes1.md", "notes2.md"]
    assert done["usage"]["completion_tokens"] <= 10 and done["model"] == "smollm2-135m-instruct"
    assert done["cache"] == "model"
    # llm.openai streams through the same hook when a request streams
    body = {"question": "Where are stage results kept?"}
    with httpx.stream(
        "POST", f"{server.url}/v1/pipelines/direct/stream", json=body, headers=headers, timeout=120
    ) as reply:
        tokens = [line for line in reply.iter_lines() if line == "event: token"]
    assert len(tokens) > 1
    metrics = httpx.get(f"{server.url}/metrics").text
    labels = 'kind="completion",model="smollm2-135m-instruct",pipeline="ask",prompt="rag-answer@1"'
    assert f"dagwright_llm_tokens_total{{{labels}}}" in metrics


def _redis_app(tmp_path: Path, org: str) -> TestClient:
    file = tmp_path / "project" / "pipelines.yaml"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(PIPELINES)
    settings = ServeSettings(keys_text=f"{org}:k1-{org},{org}:k2-{org}", key_rate=2, org_rate=3, redis_url=REDIS)
    return TestClient(create_app(plan_project(load(file)), settings), raise_server_exceptions=False)


def test_rate_limits_in_redis_are_shared_by_every_server_process(tmp_path: Path) -> None:
    import redis

    org = "it" + uuid.uuid4().hex[:8]  # counters of other runs never meet this one's
    with _redis_app(tmp_path, org) as one, _redis_app(tmp_path, org) as two:  # two servers, one Redis

        def run(client: TestClient, key: str) -> Any:
            headers = {"authorization": f"Bearer {key}-{org}"}
            return client.post("/v1/pipelines/echo/run", json={"question": "hi"}, headers=headers)

        assert [run(one, "k1").status_code, run(two, "k1").status_code] == [200, 200]
        refused = run(one, "k1")
        is_problem(refused, 429, "rate_limited_key")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert run(two, "k2").status_code == 200  # the organisation's third request
        is_problem(run(one, "k2"), 429, "rate_limited_org")
    counted = redis.Redis.from_url(REDIS).keys(f"dagwright:rate:org:{org}:*")
    assert len(counted) == 1
