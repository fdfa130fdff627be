"""`dagwright serve`'s app against small deterministic pipelines, through Starlette's TestClient (the real app,
its lifespan, middleware and error handlers; no model). The model, Redis and uvicorn:
tests/integration/test_serve.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from flows.language.load import load
from flows.plan.planner import plan_project
from flows.serve.app import create_app
from flows.serve.settings import ServeSettings
from tests.helpers.servefns import ECHO_PIPELINE

PIPELINES = (
    """
version: 1
pipelines:"""
    + ECHO_PIPELINE
    + """
  boom:
    serve: true
    params: {question: {type: string}}
    stages:
      fail:
        uses: python.call
        with: {function: "tests.helpers.servefns:fail"}
        inputs: {question: "${params.question}"}
        retries: 0
  slow:
    serve: true
    params: {question: {type: string}, seconds: {type: number, default: 0.0}}
    stages:
      wait:
        uses: python.call
        with: {function: "tests.helpers.servefns:slow"}
        inputs: {question: "${params.question}", seconds: "${params.seconds}"}
        cache: false
  hidden:
    params: {question: {type: string}}
    stages:
      fail:
        uses: python.call
        with: {function: "tests.helpers.servefns:fail"}
        inputs: {question: "${params.question}"}
"""
)
KEYS = "acme:key-acme-1,acme:key-acme-2,beta:key-beta"


def make_client(tmp_path: Path, **settings: Any) -> TestClient:
    file = tmp_path / "project" / "pipelines.yaml"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(PIPELINES)
    return TestClient(create_app(plan_project(load(file)), ServeSettings(**settings)), raise_server_exceptions=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, timeout=1.0) as c:
        yield c


def is_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["code"] == code, body
    assert "Traceback" not in response.text
    return body


def test_run_answers_with_the_pipelines_final_outputs(client: TestClient) -> None:
    reply = client.post("/v1/pipelines/echo/run", json={"question": "hi", "times": 2})
    assert reply.status_code == 200, reply.text
    assert reply.json()["outputs"] == {"shout.output": "HI HI"} and reply.json()["pipeline"] == "echo"


def test_numbers_are_json_schemas_numbers(client: TestClient) -> None:
    """5.0 is an integer in JSON Schema; true and "2" are not numbers, though pydantic's lax mode takes them."""
    reply = client.post("/v1/pipelines/echo/run", json={"question": "hi", "times": 2.0})
    assert reply.status_code == 200 and reply.json()["outputs"] == {"shout.output": "HI HI"}
    for wrong in (True, "2"):
        body = is_problem(
            client.post("/v1/pipelines/echo/run", json={"question": "hi", "times": wrong}), 422, "invalid_request"
        )
        assert body["errors"][0]["loc"] == ["body", "times"] and "not a boolean or a string" in body["detail"]


def test_the_openapi_spec_documents_each_served_pipeline(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/pipelines/echo/run" in spec["paths"] and "/v1/pipelines/hidden/run" not in spec["paths"]
    params = spec["components"]["schemas"]["EchoParams"]
    assert params["required"] == ["question"] and params["additionalProperties"] is False
    wanted = {"minLength": 1, "maxLength": 200, "description": "The question to shout."}
    assert params["properties"]["question"].items() >= wanted.items()
    assert params["properties"]["times"]["maximum"] == 5 and params["properties"]["times"]["default"] == 1
    outputs = spec["components"]["schemas"]["EchoOutputs"]
    assert outputs["properties"]["shout.output"]["type"] == "string"
    assert "text/event-stream" in spec["paths"]["/v1/pipelines/echo/stream"]["post"]["responses"]["200"]["content"]


def test_listing_health_and_readiness(client: TestClient) -> None:
    listed = client.get("/v1/pipelines").json()["pipelines"]
    assert [(p["name"], p["chat"]) for p in listed] == [("echo", True), ("boom", False), ("slow", False)]
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "pipelines": ["boom", "echo", "slow"]}


def test_bad_params_unknown_pipelines_and_methods_are_problems(client: TestClient) -> None:
    body = is_problem(
        client.post("/v1/pipelines/echo/run", json={"question": "hi", "times": 9}), 422, "invalid_request"
    )
    assert body["errors"][0]["loc"] == ["body", "times"] and "less than or equal to 5" in body["detail"]
    is_problem(client.post("/v1/pipelines/echo/run", json={"question": "hi", "nope": 1}), 422, "invalid_request")
    is_problem(
        client.post("/v1/pipelines/echo/run", content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "invalid_request",
    )
    # min_length counts no whitespace around the text (the engine's rule), a blank question is refused too
    is_problem(client.post("/v1/pipelines/echo/run", json={"question": "   "}), 422, "invalid_params")
    body = is_problem(client.post("/v1/pipelines/ecko/run", json={}), 404, "pipeline_not_found")
    assert "did you mean 'echo'?" in body["detail"]
    is_problem(client.post("/v1/pipelines/hidden/run", json={"question": "x"}), 404, "pipeline_not_found")
    is_problem(client.get("/v1/pipelines/echo/run"), 405, "method_not_allowed")
    is_problem(client.get("/nowhere"), 404, "not_found")


def test_a_failing_stage_is_a_500_without_its_message_or_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVE_TEST_SECRET", "sk-very-secret-value")
    with make_client(tmp_path) as client:
        reply = client.post("/v1/pipelines/boom/run", json={"question": "q"})
    body = is_problem(reply, 500, "pipeline_failed")
    assert body["stage"] == "fail" and "sk-very-secret-value" not in reply.text and "exploded" not in reply.text


def test_a_run_over_the_deadline_is_a_504(client: TestClient) -> None:
    is_problem(client.post("/v1/pipelines/slow/run", json={"question": "q", "seconds": 3}), 504, "timeout")
    assert client.post("/v1/pipelines/slow/run", json={"question": "q"}).status_code == 200


def sse_events(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_stream_sends_tokens_then_a_final_event(client: TestClient) -> None:
    with client.stream("POST", "/v1/pipelines/echo/stream", json={"question": "hi"}) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = sse_events(reply.read().decode())
    # A pipeline without a streaming provider sends its whole answer as one token.
    assert events[0] == ("token", {"text": "HI"})
    kind, done = events[-1]
    assert kind == "done" and done["text"] == "HI" and done["cache"] in ("model", "result_cache")
    assert set(done) >= {"sources", "usage", "model", "cache", "run_id"}
    is_problem(client.post("/v1/pipelines/echo/stream", json={"question": "hi", "times": 0}), 422, "invalid_request")
    # the engine's own rule (a blank question under min_length) refuses before the stream starts, as /run does
    is_problem(client.post("/v1/pipelines/echo/stream", json={"question": "  "}), 422, "invalid_params")
    chat = {"model": "echo", "stream": True, "messages": [{"role": "user", "content": " "}]}
    is_problem(client.post("/v1/chat/completions", json=chat), 422, "invalid_params")


def test_a_failure_while_streaming_is_an_error_event(client: TestClient) -> None:
    with client.stream("POST", "/v1/pipelines/boom/stream", json={"question": "q"}) as reply:
        events = sse_events(reply.read().decode())
    assert [(k, v["code"]) for k, v in events] == [("error", "pipeline_failed")]


def test_the_official_openai_client_chats_with_a_chat_pipeline(client: TestClient) -> None:
    from openai import NotFoundError, OpenAI

    openai = OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=client, max_retries=0)
    assert [m.id for m in openai.models.list()] == ["echo"]
    messages: Any = [
        {"role": "system", "content": "be loud"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "FIRST"},
        {"role": "user", "content": "second"},
    ]
    reply = openai.chat.completions.create(model="echo", messages=messages)
    assert reply.choices[0].message.content == "SECOND" and reply.choices[0].finish_reason == "stop"
    chunks = list(openai.chat.completions.create(model="echo", messages=messages, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "SECOND"
    assert chunks[-1].choices[0].finish_reason == "stop"
    with pytest.raises(NotFoundError, match="no chat pipeline 'boom'"):
        openai.chat.completions.create(model="boom", messages=messages)


def test_api_keys_are_required_checked_and_scoped(tmp_path: Path) -> None:
    hashed = hashlib.sha256(b"key-from-file").hexdigest()
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"ops:sha256:{hashed}\n")
    settings = {"keys_text": KEYS, "keys_file": str(keys_file), "org_pipelines": {"beta": {"slow"}}}
    with make_client(tmp_path, **settings) as client:
        run = lambda **headers: client.post("/v1/pipelines/echo/run", json={"question": "hi"}, headers=headers)  # noqa: E731
        is_problem(run(), 401, "missing_api_key")
        assert run().headers["www-authenticate"] == "Bearer"
        is_problem(run(authorization="Bearer key-acme-3"), 401, "invalid_api_key")
        is_problem(run(authorization="Basic a2V5LWFjbWUtMQ=="), 401, "invalid_authorization")
        assert run(authorization="Bearer key-acme-1").status_code == 200
        assert run(**{"x-api-key": "key-acme-2"}).status_code == 200
        assert run(authorization="Bearer key-from-file").status_code == 200
        body = is_problem(run(authorization="Bearer key-beta"), 403, "pipeline_forbidden")
        assert "key-beta" not in json.dumps(body)
        assert client.get("/healthz").status_code == 200  # probes need no key
        assert client.app.state.serve.keys._entries[0][1] == hashlib.sha256(b"key-acme-1").hexdigest()


def test_rate_limits_per_key_and_per_organisation_in_memory(tmp_path: Path) -> None:
    with make_client(tmp_path, keys_text=KEYS, key_rate=2, org_rate=3) as client:

        def run(key: str) -> Any:
            return client.post(
                "/v1/pipelines/echo/run", json={"question": "hi"}, headers={"authorization": f"Bearer {key}"}
            )

        assert [run("key-acme-1").status_code for _ in range(2)] == [200, 200]
        refused = run("key-acme-1")
        is_problem(refused, 429, "rate_limited_key")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert run("key-acme-2").status_code == 200  # the organisation's third
        is_problem(run("key-acme-2"), 429, "rate_limited_org")
        assert run("key-beta").status_code == 200  # another organisation counts apart


def test_body_and_question_size_limits(tmp_path: Path) -> None:
    with make_client(tmp_path, max_body_bytes=300, max_question_chars=10) as client:
        big = {"question": "x" * 400}
        is_problem(client.post("/v1/pipelines/echo/run", json=big), 413, "body_too_large")
        chunks = iter([b'{"question": "', b"y" * 400, b'"}'])  # no Content-Length: counted as it streams in
        is_problem(
            client.post("/v1/pipelines/echo/run", content=chunks, headers={"content-type": "application/json"}),
            413,
            "body_too_large",
        )
        body = is_problem(client.post("/v1/pipelines/echo/run", json={"question": "x" * 11}), 413, "question_too_long")
        assert "at most 10" in body["detail"]
        chat = {"model": "echo", "messages": [{"role": "user", "content": "x" * 11}]}
        is_problem(client.post("/v1/chat/completions", json=chat), 413, "question_too_long")


def test_cors_is_off_unless_origins_are_named(tmp_path: Path) -> None:
    preflight = {"origin": "https://elsewhere.example", "access-control-request-method": "POST"}
    with make_client(tmp_path) as client:
        assert "access-control-allow-origin" not in client.options("/v1/pipelines/echo/run", headers=preflight).headers
    with make_client(tmp_path, cors_origins=("https://elsewhere.example",)) as client:
        allowed = client.options("/v1/pipelines/echo/run", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://elsewhere.example"


def test_metrics_count_requests_latency_and_errors(client: TestClient) -> None:
    client.post("/v1/pipelines/echo/run", json={"question": "hi"})
    client.post("/v1/pipelines/boom/run", json={"question": "hi"})
    client.post("/v1/pipelines/made-up-name/run", json={})
    text = client.get("/metrics").text
    assert 'dagwright_request_duration_seconds_count{endpoint="run",pipeline="echo"} 1.0' in text
    assert 'dagwright_requests_total{endpoint="run",pipeline="echo",status="200"} 1.0' in text
    assert 'dagwright_errors_total{code="pipeline_failed",pipeline="boom"} 1.0' in text
    assert 'dagwright_errors_total{code="pipeline_not_found",pipeline="none"} 1.0' in text  # no label per made-up name


GROUNDED = """
version: 1
resources:
  llm:
    uses: llm.openai
    with: {base_url: "http://127.0.0.1:8619/v1", max_retries: 0, timeout: 5}
pipelines:
  ask:
    serve: {chat: true}
    params: {question: {type: string, min_length: 1}}
    stages:
      find:
        uses: python.call
        with: {function: "tests.helpers.servefns:passages"}
        inputs: {question: "${params.question}"}
      generate:
        uses: generator.answer
        with: {llm: llm, max_tokens: 8}
        inputs: {question: "${params.question}", documents: find.output}
        retries: 0
"""


def test_a_provider_nobody_answers_at_is_a_503(tmp_path: Path) -> None:
    """Port 8619 is reserved for this test and never listened on: the real client's connection is refused."""
    file = tmp_path / "project" / "pipelines.yaml"
    file.parent.mkdir(parents=True)
    file.write_text(GROUNDED)
    with TestClient(create_app(plan_project(load(file)), ServeSettings()), raise_server_exceptions=False) as client:
        body = is_problem(client.post("/v1/pipelines/ask/run", json={"question": "q"}), 503, "provider_unavailable")
        assert body["detail"] == "stage 'generate': the model provider is unreachable"
        chat = {"model": "ask", "messages": [{"role": "user", "content": "q"}]}
        assert is_problem(client.post("/v1/chat/completions", json=chat), 503, "provider_unavailable")["error"]


GATEWAY = """
version: 1
resources:
  llm:
    uses: llm.gateway
    with:
      providers:
        # Port 8619 is never listened on: every attempt's connection is refused.
        nowhere: {kind: openai, base_url: "http://127.0.0.1:8619/v1", model: gpt-4o-mini, max_retries: 0,
                  context_window: 1024}
      route: [nowhere]
      budgets: {daily_tokens: {tight: 50}}
      backoff: 0
      breaker: {failures: 1, cooldown: 600}
pipelines:
  ask:
    serve: true
    params: {question: {type: string}, max_tokens: {type: integer, default: 8}}
    stages:
      find:
        uses: python.call
        with: {function: "tests.helpers.servefns:passages"}
        inputs: {question: "${params.question}"}
      generate:
        uses: generator.answer
        with: {llm: llm, max_tokens: "${params.max_tokens}"}
        inputs: {question: "${params.question}", documents: find.output}
        retries: 0
  tight:
    serve: true
    params: {question: {type: string}}
    stages:
      find:
        uses: python.call
        with: {function: "tests.helpers.servefns:passages"}
        inputs: {question: "${params.question}"}
      generate:
        uses: generator.answer
        with: {llm: llm, max_tokens: 8}
        inputs: {question: "${params.question}", documents: find.output}
        retries: 0
"""


def test_the_llm_gateways_refusals_and_failures_are_problems(tmp_path: Path) -> None:
    """The real gateway: its token counting, budget and context window refuse before any call; a route whose
    every provider refuses connections fails, and its circuit breaker's state shows in /metrics."""
    file = tmp_path / "project" / "pipelines.yaml"
    file.parent.mkdir(parents=True)
    file.write_text(GATEWAY)
    with TestClient(create_app(plan_project(load(file)), ServeSettings()), raise_server_exceptions=False) as client:
        too_long = client.post("/v1/pipelines/ask/run", json={"question": "q", "max_tokens": 5000})
        detail = is_problem(too_long, 422, "context_window_exceeded")["detail"]
        assert "context window of 1,024 tokens" in detail
        refused = client.post("/v1/pipelines/tight/run", json={"question": "q"})
        is_problem(refused, 429, "budget_exceeded")
        assert 0 < int(refused.headers["retry-after"]) <= 86400
        closed = 'dagwright_llm_breaker_state{provider="nowhere",resource="llm",state="closed"} 1.0'
        assert closed in client.get("/metrics").text
        failed = is_problem(client.post("/v1/pipelines/ask/run", json={"question": "q"}), 503, "providers_failed")
        assert failed["stage"] == "generate" and "nowhere" in failed["detail"]
        metrics = client.get("/metrics").text
    assert 'dagwright_llm_breaker_state{provider="nowhere",resource="llm",state="open"} 1.0' in metrics
    assert 'dagwright_llm_breaker_opened_total{provider="nowhere",resource="llm"} 1.0' in metrics


def test_dagwright_serve_refuses_a_file_with_nothing_to_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli.main import main

    file = tmp_path / "pipelines.yaml"
    file.write_text(PIPELINES.replace("serve: true", "serve: false").replace("serve: {chat: true}", ""))
    assert main(["-f", str(file), "serve", "--port", "8616"]) == 2
    assert "no pipeline is marked `serve: true`" in capsys.readouterr().err


def test_readyz_says_which_resource_failed_to_open_without_its_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 8619 is never listened on; the password comes from the environment and must not be shown.
    monkeypatch.setenv("SERVE_TEST_DSN", "postgresql://app:sk-pg-secret@127.0.0.1:8619/app?connect_timeout=2")
    file = tmp_path / "project" / "pipelines.yaml"
    file.parent.mkdir(parents=True)
    file.write_text(
        """
        resources:
          docs: {uses: store.pgvector, with: {dsn: "${env:SERVE_TEST_DSN}"}}
        pipelines:
          keep:
            serve: true
            params: {question: {type: string}}
            stages:
              find:
                uses: python.call
                with: {function: "tests.helpers.servefns:passages"}
                inputs: {question: "${params.question}"}
              index: {uses: store.write, with: {store: docs}, inputs: {documents: find.output}}
        """.replace("\n        ", "\n")
    )
    with TestClient(create_app(plan_project(load(file)), ServeSettings()), raise_server_exceptions=False) as client:
        reply = client.get("/readyz")
        assert client.get("/healthz").status_code == 200  # alive, not ready
    body = is_problem(reply, 503, "resource_failed")
    assert "resource 'docs' (store.pgvector) could not open" in body["detail"]
    assert "sk-pg-secret" not in reply.text


def test_settings_come_from_the_environment() -> None:
    env = {
        "DAGWRIGHT_API_KEYS": "acme:k",
        "DAGWRIGHT_RATE_LIMIT_KEY": "5",
        "DAGWRIGHT_REDIS_URL": "redis://127.0.0.1:6379/0",
        "DAGWRIGHT_CORS_ORIGINS": "https://a.example, https://b.example",
        "DAGWRIGHT_ORG_PIPELINES": "acme=rag-query|echo; ops=*",
        "DAGWRIGHT_SERVE_TIMEOUT": "2.5",
    }
    settings = ServeSettings.from_env(env)
    assert (settings.keys_text, settings.key_rate, settings.org_rate, settings.timeout) == ("acme:k", 5, 600, 2.5)
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.org_pipelines == {"acme": {"rag-query", "echo"}, "ops": {"*"}}
    assert ServeSettings.from_env({}) == ServeSettings()


def test_bad_key_settings_are_clear_errors_that_quote_no_key(tmp_path: Path) -> None:
    from flows.errors import SettingError
    from flows.serve.auth import KeyRing

    with pytest.raises(SettingError, match=r"^API key entry 2: expected 'org:key'") as refused:
        KeyRing.from_settings(ServeSettings(keys_text="acme:good,no-org-secret"))
    assert "no-org-secret" not in str(refused.value)
    with pytest.raises(SettingError, match="DAGWRIGHT_API_KEYS_FILE .*/missing: No such file or directory"):
        KeyRing.from_settings(ServeSettings(keys_file=str(tmp_path / "missing")))


def test_without_keys_each_client_address_is_limited_like_a_key(tmp_path: Path) -> None:
    with make_client(tmp_path, key_rate=1) as client:
        assert client.post("/v1/pipelines/echo/run", json={"question": "hi"}).status_code == 200
        is_problem(client.post("/v1/pipelines/echo/run", json={"question": "hi"}), 429, "rate_limited_key")


def test_chat_max_tokens_and_temperature_go_to_declared_params_else_to_the_generators(tmp_path: Path) -> None:
    from flows.serve.chat import ChatRequest, for_request

    file = tmp_path / "project" / "pipelines.yaml"
    file.parent.mkdir(parents=True)
    file.write_text(GATEWAY)
    plans = plan_project(load(file))
    asked = ChatRequest(model="tight", messages=[{"role": "user", "content": "q"}], max_tokens=5, temperature=0.0)
    tight = for_request(plans["tight"], asked)
    assert dict(tight.stage("generate").with_) == {"llm": "llm", "max_tokens": 5, "temperature": 0.0}
    assert tight.stage("find") == plans["tight"].stage("find")  # it calls no model
    longer = for_request(plans["tight"], asked.model_copy(update={"max_tokens": 500}))
    assert longer.stage("generate").with_["max_tokens"] == 8  # the stage's own is the ceiling
    # `ask` declares a param max_tokens: it takes the value (chat.py's _params), its stages are left alone
    ask = for_request(plans["ask"], asked.model_copy(update={"model": "ask", "temperature": None}))
    assert ask is plans["ask"]
    assert for_request(plans["tight"], ChatRequest(model="tight", messages=asked.messages)) is plans["tight"]
