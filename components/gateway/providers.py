"""The providers a gateway routes to: the embedded llama.cpp server (or another llama.cpp server), or any
OpenAI-compatible endpoint. A provider makes one attempt at a time; retries, fallback and budgets are the
gateway's (resource.py). Its client never retries by itself, so every attempt is counted by the breaker."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.gateway import tokens
from components.gateway.breaker import CircuitBreaker
from components.gateway.settings import DEFAULT_WINDOW, KNOWN_WINDOWS, ProviderSpec

if TYPE_CHECKING:
    import httpx
    from openai import OpenAI

    from components.llmserver import LocalServer


class Provider:
    """One provider of a gateway, opened on its first attempt (an unused fallback starts no server)."""

    def __init__(self, name: str, spec: ProviderSpec, breaker: CircuitBreaker, state_dir: Path) -> None:
        self.name, self.spec, self.breaker, self.state_dir = name, spec, breaker, state_dir
        self.model = spec.model_name()
        self.client: OpenAI | None = None
        self.http: httpx.Client | None = None
        self.server: LocalServer | None = None
        self.root = ""  # the endpoint without /v1, for llama.cpp's own routes
        self._window: int | None = spec.context_window
        self._lock = threading.Lock()

    def ensure_open(self) -> float:
        """Open on first use; the seconds that took (starting the embedded server: seconds), else 0."""
        with self._lock:
            if self.client is not None:
                return 0.0
            started = time.perf_counter()
            self._open()
            return time.perf_counter() - started

    def _open(self) -> None:
        import httpx
        from openai import OpenAI

        spec = self.spec
        base_url = spec.base_url
        if base_url is None:
            server = spec.local_server(self.state_dir / "llm-server.log")
            base_url = server.start()
            self.server = server
        self.root = base_url.rstrip("/").removesuffix("/v1")
        self.http = httpx.Client(timeout=spec.timeout)
        self.client = OpenAI(base_url=base_url, api_key=spec.api_key or "unused", timeout=spec.timeout, max_retries=0)

    def close(self) -> None:
        with self._lock:
            for held in (self.client, self.http):
                if held is not None:
                    held.close()
            if self.server is not None:
                self.server.stop()
            self.client = self.http = self.server = None

    def failed(self, unhealthy: bool) -> None:
        """After a failed attempt: an unhealthy provider counts toward its breaker, and an embedded server that
        died (killed, out of memory) is dropped so the next attempt starts a new one. Other failures (a bad
        request) say nothing about the provider."""
        if not unhealthy:
            self.breaker.abandon()
            return
        self.breaker.failure()
        process = self.server.process if self.server is not None else None
        if self.spec.base_url is None and process is not None and process.poll() is not None:
            self.close()

    def window(self) -> int:
        if self._window is None:
            if self.spec.kind == "llama_cpp":
                self._window = tokens.llama_cpp_window(self.http, self.root)
            else:
                match = [n for prefix, n in KNOWN_WINDOWS.items() if self.model.startswith(prefix)]
                self._window = max(match) if match else DEFAULT_WINDOW
        return self._window

    def count(self, messages: list[dict[str, str]]) -> int:
        """Prompt tokens of ``messages`` for this provider's model; an estimate is rounded up with a margin."""
        if self.spec.kind == "llama_cpp":
            return tokens.llama_cpp_count(self.http, self.root, messages)
        encoding, exact = tokens.encoding_name(self.model, self.spec.encoding)
        counted = tokens.tiktoken_count(messages, encoding)
        return counted if exact else math.ceil(counted * tokens.ESTIMATE_MARGIN)

    def count_text(self, text: str) -> int:
        if self.spec.kind == "llama_cpp":
            return tokens.llama_cpp_text(self.http, self.root, text)
        return tokens.tiktoken_text(text, tokens.encoding_name(self.model, self.spec.encoding)[0])

    def chat(
        self, messages: list[dict[str, str]], options: dict[str, Any], first_token: Callable[[], None] | None = None
    ) -> tuple[str, dict[str, int]]:
        """One attempt; usage as the endpoint reported it (empty if it did not). When streaming, ``first_token``
        is called as the first text arrives (time to first token)."""
        assert self.client is not None  # ensure_open() came first
        from components.generators import read_stream, usage_of
        from components.tokens import wants_tokens

        request: dict[str, Any] = {"model": self.model, "messages": messages, **options}
        if not request.pop("stream", False) and not wants_tokens():  # a streaming request streams the call
            response = self.client.chat.completions.create(**request)
            return response.choices[0].message.content or "", usage_of(response.usage)
        chunks = self.client.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
        return read_stream(chunks, first_token)

    def embed(self, texts: list[str], model: str) -> tuple[list[list[float]], int]:
        """One attempt: a vector per text, in their order, and the prompt tokens the endpoint reported (0: none)."""
        assert self.client is not None  # ensure_open() came first
        response = self.client.embeddings.create(model=model, input=texts)
        vectors = [list(item.embedding) for item in sorted(response.data, key=lambda item: item.index)]
        if len(vectors) != len(texts):
            raise ValueError(f"{len(texts)} texts sent to provider '{self.name}', {len(vectors)} vectors back")
        usage = getattr(response, "usage", None)
        return vectors, int(getattr(usage, "prompt_tokens", 0) or 0)
