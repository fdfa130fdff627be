"""Offline token counts for OpenAI models, and which failures are retried for how long."""

from __future__ import annotations

import email.utils
import random
import time

import httpx
import openai
import pytest

from components.gateway import tokens
from components.gateway.retry import backoff, classify, retry_after


def test_tiktoken_counts_offline_with_the_models_encoding() -> None:
    assert tokens.encoding_name("gpt-4o-mini") == ("o200k_base", True)
    assert tokens.encoding_name("gpt-4") == ("cl100k_base", True)
    assert tokens.encoding_name("some-vllm-model") == ("o200k_base", False)  # the documented approximation
    assert tokens.encoding_name("some-vllm-model", "cl100k_base") == ("cl100k_base", True)
    # Ids equal tiktoken's: "hello world" is [24912, 2375] in o200k_base and [15339, 1917] in cl100k_base.
    assert tokens._encoding("o200k_base").encode("hello world") == [24912, 2375]
    assert tokens._encoding("cl100k_base").encode("hello world") == [15339, 1917]
    messages = [{"role": "user", "content": "hello world"}]
    # OpenAI's rule: 3 per message, the role and content tokens ("user" is 1), 3 to prime the reply.
    assert tokens.tiktoken_count(messages, "o200k_base") == 3 + 1 + 2 + 3


def status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(status, headers=headers or {}, request=request)
    cls = {429: openai.RateLimitError, 500: openai.InternalServerError, 400: openai.BadRequestError}.get(status)
    return (cls or openai.APIStatusError)("failed", response=response, body=None)


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (status_error(429), True),
        (status_error(500), True),
        (status_error(503), True),
        (status_error(400), False),
        (status_error(401), False),
        (status_error(404), False),
        (openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9")), True),
        (openai.APITimeoutError(request=httpx.Request("POST", "http://127.0.0.1:9")), True),
        (httpx.ConnectError("refused"), True),
        (ValueError("a bug"), False),
    ],
)
def test_only_connection_errors_429_and_5xx_are_retryable(exc: BaseException, retryable: bool) -> None:
    assert classify(exc).retryable is retryable


def test_retry_after_in_seconds_milliseconds_or_a_date() -> None:
    assert classify(status_error(429, {"retry-after": "3"})).retry_after == 3
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (retry_after({"retry-after": date}) or 0) <= 30
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


def test_backoff_is_jittered_exponential_capped_and_yields_to_retry_after() -> None:
    rng = random.Random(7)
    waits = [[backoff(attempt, 0.5, 8, rng=rng) for _ in range(200)] for attempt in (1, 2, 3, 6)]
    assert [max(w) <= bound for w, bound in zip(waits, (0.5, 1, 2, 8), strict=True)] == [True] * 4
    assert min(waits[3]) < 2 < max(waits[3])  # spread over the whole range, not fixed steps
    assert backoff(1, 0.5, 8, asked=3) == 3
    assert backoff(1, 0.5, 8, asked=600) == 8  # a huge Retry-After cannot stall a run


def test_an_estimated_count_is_rounded_up_with_a_margin(tmp_path) -> None:
    from components.gateway.breaker import CircuitBreaker
    from components.gateway.providers import Provider
    from components.gateway.settings import ProviderSpec

    def provider(model: str) -> Provider:
        spec = ProviderSpec(kind="openai", base_url="http://127.0.0.1:9/v1", model=model)
        return Provider("p", spec, CircuitBreaker(), tmp_path)

    messages = [{"role": "user", "content": "hello world " * 50}]
    exact = provider("gpt-4o").count(messages)
    assert provider("my-vllm-model").count(messages) == -(-exact * 125 // 100)
