"""Prometheus metrics with the conventional names (`_seconds`, `_total`), in a registry per app so two apps in
one process (tests) count apart.

Two levels: requests (latency by pipeline and endpoint, status, error codes, how the answer was made), and the
model calls behind them, by pipeline, model and prompt, from the LLM gateway's usage records (``llm_call`` is the
observer `dagwright serve` registers on each `llm.gateway` resource; one request may make several calls). A
pipeline that calls `llm.openai` directly, without the gateway, shows request metrics only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from components.gateway.usage import UsageRecord

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
        self.cache = Counter(
            "dagwright_cache_total",
            "Answers by pipeline and how they were made (model, exact_cache, semantic_cache, result_cache).",
            ["pipeline", "outcome"],
            registry=r,
        )
        self.llm = _LlmMetrics(r)

    def answered(self, pipeline: str, endpoint: str, status: int, seconds: float) -> None:
        self.latency.labels(pipeline, endpoint).observe(seconds)
        self.requests.labels(pipeline, endpoint, str(status)).inc()

    def failed(self, pipeline: str, code: str) -> None:
        self.errors.labels(pipeline, code).inc()

    def served(self, pipeline: str, outcome: str) -> None:
        self.cache.labels(pipeline, outcome).inc()

    def abandoned(self, pipeline: str, endpoint: str, seconds: float) -> None:
        """A streaming client went away before the end (nginx's 499, Client Closed Request)."""
        self.answered(pipeline, endpoint, 499, seconds)
        self.failed(pipeline, "client_closed")

    def llm_call(self, record: UsageRecord) -> None:
        self.llm.observe(record)

    def watch_breakers(self, source: BreakerSource) -> None:
        """Show the circuit breakers' states, read at each scrape (they change between requests too)."""
        self.registry.register(_Breakers(source))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


LLM_LABELS = ["pipeline", "model", "prompt"]


class _LlmMetrics:
    """The gateway's calls by pipeline, model and prompt (`name@version`); "none" where a record has no value."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.calls = Counter(
            "dagwright_llm_calls_total",
            "Model calls through the LLM gateway by provider and outcome (ok, error, refused, cancelled).",
            [*LLM_LABELS, "provider", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "dagwright_llm_call_duration_seconds",
            "Time of answered gateway calls, by cache outcome (exact, semantic: from a cache; miss, off: the model).",
            [*LLM_LABELS, "cache"],
            buckets=BUCKETS,
            registry=r,
        )
        self.first_token = Histogram(
            "dagwright_llm_time_to_first_token_seconds",
            "Time to the first token of streamed model calls.",
            LLM_LABELS,
            buckets=BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "dagwright_llm_tokens_total",
            "Tokens the model read (prompt) and wrote (completion).",
            [*LLM_LABELS, "kind"],
            registry=r,
        )
        self.cost = Counter("dagwright_llm_cost_usd_total", "Dollars, from the price table.", LLM_LABELS, registry=r)
        self.cache = Counter(
            "dagwright_llm_cache_total",
            "Answered calls by cache outcome: exact or semantic hit, miss, or off (not cacheable).",
            [*LLM_LABELS, "outcome"],
            registry=r,
        )
        self.fallbacks = Counter(
            "dagwright_llm_fallbacks_total",
            "Calls answered by a provider after the first of the route, by that provider.",
            [*LLM_LABELS, "provider"],
            registry=r,
        )

    def observe(self, record: UsageRecord) -> None:
        labels = [record.pipeline or "none", record.model or "none", record.prompt or "none"]
        self.calls.labels(*labels, record.provider or "none", record.outcome).inc()
        if record.outcome != "ok":
            return
        self.latency.labels(*labels, record.cache).observe(record.latency_ms / 1000)
        self.cache.labels(*labels, record.cache).inc()
        if record.ttft_ms is not None:
            self.first_token.labels(*labels).observe(record.ttft_ms / 1000)
        for kind, count in (("prompt", record.tokens_in), ("completion", record.tokens_out)):
            if count:
                self.tokens.labels(*labels, kind).inc(count)
        self.cost.labels(*labels).inc(record.cost_usd)  # 0 for a free model: the series still shows
        if record.fallback:
            self.fallbacks.labels(*labels, record.provider).inc()


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
