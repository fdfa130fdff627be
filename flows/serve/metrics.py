"""Prometheus metrics with the conventional names (`_seconds`, `_total`), in a registry per app so two apps in
one process (tests) count apart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# resource name -> provider -> the breaker's snapshot (state, failures, opened), as the LLM gateway gives them
BreakerSource = Callable[[], dict[str, dict[str, dict[str, Any]]]]
BREAKER_STATES = ("closed", "half_open", "open")

# Up to two minutes: a RAG answer on a small CPU model takes seconds, a cached one milliseconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram(
            "dagwright_request_duration_seconds",
            "Time to answer a request, by pipeline and endpoint.",
            ["pipeline", "endpoint"],
            buckets=BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "dagwright_requests_total",
            "Requests answered, by pipeline, endpoint and status.",
            ["pipeline", "endpoint", "status"],
            registry=r,
        )
        self.errors = Counter(
            "dagwright_errors_total", "Error responses by pipeline and code.", ["pipeline", "code"], registry=r
        )
        self.tokens = Counter(
            "dagwright_llm_tokens_total",
            "Tokens by pipeline, model and kind (prompt or completion).",
            ["pipeline", "model", "kind"],
            registry=r,
        )
        self.cache = Counter(
            "dagwright_cache_total", "Answers by pipeline and cache outcome.", ["pipeline", "outcome"], registry=r
        )

    def answered(self, pipeline: str, endpoint: str, status: int, seconds: float) -> None:
        self.latency.labels(pipeline, endpoint).observe(seconds)
        self.requests.labels(pipeline, endpoint, str(status)).inc()

    def failed(self, pipeline: str, code: str) -> None:
        self.errors.labels(pipeline, code).inc()

    def usage(self, pipeline: str, answer: dict[str, Any], outcome: str) -> None:
        model = answer.get("model") or "none"
        for kind in ("prompt_tokens", "completion_tokens"):
            if answer["usage"].get(kind):
                self.tokens.labels(pipeline, model, kind.removesuffix("_tokens")).inc(answer["usage"][kind])
        self.cache.labels(pipeline, outcome).inc()

    def watch_breakers(self, source: BreakerSource) -> None:
        """Show the circuit breakers' states, read at each scrape (they change between requests too)."""
        self.registry.register(_Breakers(source))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Breakers(Collector):
    def __init__(self, source: BreakerSource) -> None:
        self.source = source

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        state = GaugeMetricFamily(
            "dagwright_llm_breaker_state",
            "1 for the circuit breaker's current state, per LLM gateway resource and provider.",
            labels=["resource", "provider", "state"],
        )
        opened = CounterMetricFamily(
            "dagwright_llm_breaker_opened", "Times a provider's circuit opened.", labels=["resource", "provider"]
        )
        for resource, providers in self.source().items():
            for provider, snap in providers.items():
                for name in BREAKER_STATES:
                    state.add_metric([resource, provider, name], 1.0 if snap.get("state") == name else 0.0)
                opened.add_metric([resource, provider], float(snap.get("opened", 0)))
        yield state
        yield opened
