"""One embedding attempt at one provider of the gateway: tokens counted offline, each text checked against the
model's input window, the budget reserved and settled. Retries, fallback, breakers and usage records are the
gateway's, as for chat calls (resource.py `embed`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from components.gateway import tokens
from components.gateway.errors import ContextWindowExceeded
from components.generators import Reply

if TYPE_CHECKING:
    from components.gateway.providers import Provider
    from components.gateway.resource import Call, LlmGateway

# Tokens an input may have, by model name prefix (OpenAI's embedding models); others set `context_window` on the
# provider, or llama.cpp servers say theirs.
EMBEDDING_WINDOWS = {"text-embedding-3": 8191, "text-embedding-ada-002": 8191}


@dataclass(frozen=True)
class Embedded(Reply):
    vectors: list[list[float]] = field(default_factory=list)


def embedding_attempt(gateway: LlmGateway, provider: Provider, call: Call, *, texts: list[str], model: str) -> Reply:
    call.started += provider.ensure_open()  # a server's start-up is not the call's latency
    counts = [count(provider, model, text) for text in texts]
    window = input_window(provider, model)
    if window is not None and counts and max(counts) > window:
        n = counts.index(max(counts))
        raise ContextWindowExceeded(
            f"text {n + 1} of {len(texts)} takes {counts[n]:,} tokens, over the input window of {window:,} tokens "
            f"of {model} at provider '{provider.name}'"
        )
    price = gateway.params.price(model)
    held = gateway.reserve(call, sum(counts), price.cost(sum(counts), 0))
    try:
        vectors, reported = provider.embed(texts, model)
    except BaseException:
        gateway.release(held)
        raise
    used = reported or sum(counts)  # an endpoint that reports none: our own count
    cost = price.cost(used, 0)
    gateway.settle(held, used, cost)
    provider.breaker.success()
    usage = {"prompt_tokens": used, "completion_tokens": 0}
    return Embedded("", usage, model, "model", provider.name, cost, vectors=vectors)


def count(provider: Provider, model: str, text: str) -> int:
    """Tokens of ``text`` for ``model``: exact at a llama.cpp server, else tiktoken's (with a margin when its
    encoding is a guess), as for chat calls (providers.py)."""
    if provider.spec.kind == "llama_cpp":
        return tokens.llama_cpp_text(provider.http, provider.root, text)
    encoding, exact = tokens.encoding_name(model, provider.spec.encoding)
    counted = tokens.tiktoken_text(text, encoding)
    return counted if exact else math.ceil(counted * tokens.ESTIMATE_MARGIN)


def input_window(provider: Provider, model: str) -> int | None:
    """The most tokens one input may have, if known: the provider's `context_window`, a llama.cpp server's
    context, or OpenAI's published limit."""
    if provider.spec.context_window is not None or provider.spec.kind == "llama_cpp":
        return provider.window()
    found = [n for prefix, n in EMBEDDING_WINDOWS.items() if model.startswith(prefix)]
    return max(found) if found else None
