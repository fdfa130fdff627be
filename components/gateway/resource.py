"""`llm.gateway`: the LLM provider resource that every model call goes through (see __init__.py)."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from components.base import PipelinesNamed
from components.gateway import retry
from components.gateway.errors import (
    BudgetExceeded,
    BudgetUnavailable,
    ContextWindowExceeded,
    GatewayError,
    ProvidersFailed,
)
from components.gateway.settings import ANY, MAX_TEMPERATURE, BudgetSettings, GatewaySettings
from components.generators import LlmProvider, Reply
from components.masking import Secrets
from components.runinfo import RunInfo, current_run
from components.tokens import StreamClosed, StreamInterrupted, wants_tokens

if TYPE_CHECKING:  # the machinery is imported by open(): `dagwright validate` needs the settings only
    from components.gateway.providers import Provider
    from components.gateway.usage import CacheOutcome, Outcome, UsageRecord

    Observer = Callable[[UsageRecord], None]

log = logging.getLogger("dagwright.gateway")
CACHE_RETRY_SECONDS = 5.0
Attempt = Callable[["Provider", "Call"], Reply]  # one try at one provider: a chat completion or an embedding


@dataclass
class Call:
    """One request through the gateway, as it goes along the route."""

    messages: list[dict[str, str]]
    options: dict[str, Any]
    prompt: str
    run: RunInfo
    question: str = ""  # the user's question alone, for the semantic cache
    context: str = ""  # the identity of what the prompt was rendered with (retrieved chunks), for its scope
    vector: Any = None  # the question's embedding, once computed
    started: float = field(default_factory=time.perf_counter)
    cache: CacheOutcome = "off"
    ttft_ms: float | None = None  # streamed calls only
    model: str = ""  # the model asked for, when not the provider's own (an embedding model)

    def first_token(self) -> None:
        self.ttft_ms = self.ms()

    def ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 2)


class _Skip(Exception):
    """A provider gave up on this call; the gateway goes on to the next (message: why)."""


class LlmGateway(LlmProvider[GatewaySettings], PipelinesNamed[GatewaySettings]):
    """One boundary for every model call: exact and semantic caches (semantic.py), offline token counts and
    context-window checks, daily budgets per pipeline, endpoint, API key and organisation, retries with jittered
    backoff, a fallback route with a circuit breaker per provider, and a usage record of every call (`dagwright
    usage` sums them up). Caches live in SQLite under the state directory, or in Redis (`redis_url`); records
    and budgets in SQLite too, or in PostgreSQL (`usage_dsn`): backends.py.

    Example:

    ```yaml
    resources:
      llm:
        uses: llm.gateway
        with:
          providers:
            local: {kind: llama_cpp}
            openai:
              kind: openai
              base_url: "https://api.openai.com/v1"
              model: gpt-4o-mini
              api_key: "${env:OPENAI_API_KEY}"
          route: [local, openai]
          prices:
            smollm2-135m-instruct: {input_per_1k: 0.0, output_per_1k: 0.0}
            gpt-4o-mini: {input_per_1k: 0.00015, output_per_1k: 0.0006}
          budgets:
            daily_usd: {rag-query: 5.0}
            daily_tokens: {rag-query: 2000000}
            per_key: {daily_tokens: {"*": 200000}}
          cache: {exact: true, semantic: {threshold: 0.95}, ttl: 7d}
          redis_url: "${env:DAGWRIGHT_REDIS_URL}"
          usage_dsn: "${env:DAGWRIGHT_USAGE_DSN}"
    ```
    """

    name = "llm.gateway"
    kind = "LLM gateway"  # an LLM provider that also embeds and keeps usage records (usage.report needs one)

    @classmethod
    def named_pipelines(cls, settings: GatewaySettings) -> list[tuple[tuple[str, ...], str]]:
        budgets = settings.budgets
        if not isinstance(budgets, BudgetSettings):  # given with ${env:...}: read per run
            return []
        return [
            (("budgets", unit, name), name)
            for unit, limits in (("daily_usd", budgets.daily_usd), ("daily_tokens", budgets.daily_tokens))
            for name in limits
            if name != ANY
        ]

    def open(self) -> None:
        from components.gateway.backends import open_caches, open_records
        from components.gateway.breaker import CircuitBreaker
        from components.gateway.providers import Provider
        from components.gateway.semantic import QuestionEmbedder

        p, state = self.params, self.context.state_dir
        p.check()
        # API keys, the Redis URL and the DSN are masked in whatever the gateway writes or raises, the usage
        # records included (the engine scrubs what leaves a stage, but these records are written here, below it).
        self.secrets = Secrets.of(
            [s.api_key for s in p.providers.values() if s.api_key] + [p.redis_url or "", p.usage_dsn or ""]
        )
        self.providers = {
            name: Provider(name, p.providers[name], CircuitBreaker(p.breaker.failures, p.breaker.cooldown), state)
            for name in p.route
        }
        caches = open_caches(p, state)
        self.cache, self.semantic, self.cache_errors = caches.exact, caches.semantic, caches.errors
        # A cache that failed (Redis down) is skipped for a few seconds rather than waited on by every call.
        self.cache_breaker = CircuitBreaker(1, CACHE_RETRY_SECONDS)
        self.embedder = QuestionEmbedder()
        self.records = open_records(p, state)
        self.usage, self.ledger = self.records.usage, self.records.ledger
        self.observers: list[Observer] = []

    def observe(self, observer: Observer) -> None:
        """Call ``observer`` with each usage record as it is made (`dagwright serve`'s metrics), in the calling
        thread: one request may make several model calls, and each record says what one call did."""
        self.observers.append(observer)

    def close(self) -> None:
        for provider in getattr(self, "providers", {}).values():
            provider.close()
        if hasattr(self, "records"):
            self.records.close()

    def usage_summary(self, since: float = 0.0, by: Iterable[str] = ()) -> dict[str, Any]:
        """`dagwright usage`'s summary (usage.summarize) of the calls recorded since ``since`` (a Unix time), from
        the configured store; ``by`` adds groupings by endpoint, key or org."""
        from components.gateway.usage import summarize

        return summarize(self.usage_records(since), by)

    def model_name(self) -> str:
        return self.providers[self.params.route[0]].model

    def breakers(self) -> dict[str, dict[str, object]]:
        """Each provider's circuit: state (closed, open, half_open), consecutive failures, times opened."""
        return {name: p.breaker.snapshot() for name, p in self.providers.items()}

    def usage_records(self, since: float = 0.0) -> list[UsageRecord]:
        """The calls recorded since ``since`` (epoch seconds), oldest first, wherever the usage store keeps them."""
        return self.usage.records(since)

    def chat(self, messages: list[dict[str, str]], **options: Any) -> tuple[str, dict[str, int]]:
        reply = self.reply(messages, **options)
        return reply.text, reply.usage

    def reply(
        self, messages: list[dict[str, str]], *, prompt: str = "", question: str = "", context: str = "", **options: Any
    ) -> Reply:
        call = Call(messages, options, prompt, current_run(), question, context)
        cached = self._cached(call)
        if cached is not None:
            return cached
        return self._routed(call, list(self.providers.values()), self._attempt)

    def embed(
        self, texts: list[str], *, model: str, route: list[str] | None = None, prompt: str = "embedding"
    ) -> list[list[float]]:
        """Vectors of ``texts`` from the embedding ``model`` at the providers of ``route`` (default: the
        gateway's), with the retries, fallback, breakers, budgets and usage records of a chat call. Not cached
        here: embedding models keep their own cache (components/embedcache.py)."""
        from components.gateway.embeddings import Embedded, embedding_attempt

        call = Call([], {}, prompt, current_run(), model=model)
        providers = [self.providers[name] for name in route or self.params.route]
        reply = self._routed(call, providers, functools.partial(embedding_attempt, self, texts=texts, model=model))
        assert isinstance(reply, Embedded)  # what embedding_attempt returns
        return reply.vectors

    def _routed(self, call: Call, providers: list[Provider], attempt: Attempt) -> Reply:
        """The first reply along ``providers``: each one's failures retried, then the next one's (fallback)."""
        failures: list[tuple[str, BaseException]] = []
        for n, provider in enumerate(providers):
            try:
                reply = self._via(provider, call, attempt)
            except (BudgetExceeded, StreamInterrupted, StreamClosed) as exc:
                self._record(call, _ended(exc), provider, error=exc)
                raise
            except BudgetUnavailable as exc:
                self._record(call, "error", provider, error=exc)
                raise
            except (_Skip, ContextWindowExceeded) as exc:
                failures.append((provider.name, exc))
                continue
            self._record(call, "ok", provider, reply=reply, fallback=n > 0)
            self._store(call, reply)
            return reply
        raise self._failed(call, failures)

    def _failed(self, call: Call, failures: list[tuple[str, BaseException]]) -> GatewayError:
        windows = [exc for _, exc in failures if isinstance(exc, ContextWindowExceeded)]
        error: GatewayError = (
            windows[0]
            if len(windows) == len(failures)
            else ProvidersFailed(self.mask("every provider failed: " + "; ".join(f"{n}: {e}" for n, e in failures)))
        )
        self._record(call, "error", None, error=error)
        return error

    def _via(self, provider: Provider, call: Call, attempt_at: Attempt) -> Reply:
        """Attempts at one provider: retryable failures are retried with backoff while its circuit allows."""
        spec, last = provider.spec, "circuit open"
        for attempt in range(spec.max_retries + 1):
            if not provider.breaker.allow():
                raise _Skip(last if attempt else "circuit open")
            try:
                return attempt_at(provider, call)
            except (GatewayError, StreamClosed):  # the request's fault (too long, over budget, gone)
                provider.breaker.abandon()
                raise
            except Exception as exc:
                failure = retry.classify(exc)
                last = self.mask(f"{type(exc).__name__}: {exc}")
                provider.failed(failure.unhealthy)
                if call.ttft_ms is not None and wants_tokens():  # a retry or the fallback would repeat tokens sent
                    raise StreamInterrupted(f"provider '{provider.name}' failed mid-stream: {last}") from None
                if not failure.retryable:  # fails the same way again: straight to the next provider
                    raise _Skip(last) from None
                log.info("provider %s attempt %d failed: %s", provider.name, attempt + 1, last)
                if attempt < spec.max_retries:
                    time.sleep(
                        retry.backoff(attempt + 1, self.params.backoff, self.params.backoff_cap, failure.retry_after)
                    )
        raise _Skip(f"{last} (after {spec.max_retries + 1} attempts)")

    def _attempt(self, provider: Provider, call: Call) -> Reply:
        call.started += provider.ensure_open()  # a server's start-up is not the call's latency
        prompt_tokens, window = provider.count(call.messages), provider.window()
        max_out = int(call.options.get("max_tokens") or max(window - prompt_tokens, 1))
        if prompt_tokens + max_out > window:
            raise ContextWindowExceeded(
                f"the prompt takes {prompt_tokens:,} tokens and the reply up to {max_out:,} (max_tokens), "
                f"{prompt_tokens + max_out:,} in all, over the context window of {window:,} tokens of "
                f"{provider.model} at provider '{provider.name}'"
            )
        price = self.params.price(provider.model)
        held = self.reserve(call, prompt_tokens + max_out, price.cost(prompt_tokens, max_out))
        try:
            text, usage = provider.chat(call.messages, call.options, call.first_token)
        except BaseException:
            if call.ttft_ms is None:  # nothing generated; a reply cut short was paid for: its reservation stays
                self.release(held)
            raise
        if not usage:  # an endpoint that reports none: our own counts
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": provider.count_text(text)}
        cost = price.cost(usage["prompt_tokens"], usage["completion_tokens"])
        self.settle(held, usage["prompt_tokens"] + usage["completion_tokens"], cost)
        provider.breaker.success()
        return Reply(text, usage, provider.model, "model", provider.name, cost)

    # The budget steps of one attempt, chat (above) or embedding (embeddings.py): reserve the most it may cost,
    # then settle the real cost, or release the reservation if the attempt failed.

    def reserve(self, call: Call, tokens: int, usd: float) -> str | None:
        try:
            return self.ledger.reserve(call.run, tokens, usd)
        except self.records.errors as exc:  # no ledger, no proof of room: refused rather than spent unchecked
            reason = self.mask(f"{type(exc).__name__}: {exc}")
            raise BudgetUnavailable(f"the budget ledger cannot be reached ({reason}); the call was not made") from None

    def settle(self, held: str | None, tokens: int, usd: float) -> None:
        self._ledger("settle", held, tokens, usd)

    def release(self, held: str | None) -> None:
        self._ledger("release", held)

    def _ledger(self, action: str, *args: Any) -> None:
        # A ledger that fails after the reservation keeps it counted in full: the budget errs on spending less.
        try:
            getattr(self.ledger, action)(*args)
        except self.records.errors as exc:
            log.warning("budget reservation not %sd (%s)", action, self.mask(f"{type(exc).__name__}: {exc}"))

    def _cacheable(self, call: Call) -> bool:
        return self.cache is not None and call.options.get("temperature") == 0

    def _semantic_on(self, call: Call) -> bool:
        """Only for a question given apart and a temperature below 0.3; no temperature is the provider's
        default, which samples."""
        temperature = call.options.get("temperature")
        if self.semantic is None or not call.question.strip() or temperature is None:
            return False
        return float(temperature) < MAX_TEMPERATURE

    def _params(self, call: Call) -> dict[str, Any]:
        return {k: v for k, v in call.options.items() if k != "stream"}  # streaming changes no text

    def _keys(self, call: Call, model: str) -> str:
        from components.gateway.cache import cache_key

        return cache_key(call.prompt, call.messages, model, self._params(call))

    def _scope(self, call: Call, model: str) -> str:
        from components.gateway.semantic import scope_key

        return scope_key(call.prompt, model, self._params(call), call.context)

    def _cached(self, call: Call) -> Reply | None:
        """A stored reply of any routed model, in route order, exact before semantic; None on a miss (or a cache
        that fails: a cache only saves time, it never fails a call)."""
        if not (self._cacheable(call) or self._semantic_on(call)):
            return None
        call.cache = "miss"
        if not self.cache_breaker.allow():  # failed a moment ago: not waited on again yet
            return None
        try:
            found = self._exact_hit(call) or self._semantic_hit(call)
        except self.cache_errors as exc:
            self._cache_failed("unusable", exc)
            return None
        self.cache_breaker.success()
        if found is not None:
            provider, reply = found
            call.cache = "exact" if reply.served_by == "exact_cache" else "semantic"
            self._record(call, "ok", provider, reply=reply)
            return reply
        return None

    def _cache_failed(self, what: str, exc: BaseException) -> None:
        self.cache_breaker.failure()
        log.warning(
            "LLM cache %s (%s); calling the model, and skipping the cache for %.0f s",
            what,
            self.mask(f"{type(exc).__name__}: {exc}"),
            CACHE_RETRY_SECONDS,
        )

    def _exact_hit(self, call: Call) -> tuple[Provider, Reply] | None:
        if not self._cacheable(call) or self.cache is None:
            return None
        for provider in self.providers.values():
            found = self.cache.get(self._keys(call, provider.model))
            if found is not None:
                return provider, Reply(
                    found["text"], found.get("usage", {}), provider.model, "exact_cache", provider.name
                )
        return None

    def _semantic_hit(self, call: Call) -> tuple[Provider, Reply] | None:
        if not self._semantic_on(call) or self.semantic is None:
            return None
        call.vector = self.embedder.vector(call.question)
        for provider in self.providers.values():
            match = self.semantic.get(self._scope(call, provider.model), call.question, call.vector)
            if match is not None:
                log.info("semantic cache: %r answered by %r (%.3f)", call.question, match.question, match.similarity)
                usage = match.reply.get("usage", {})
                return provider, Reply(match.reply["text"], usage, provider.model, "semantic_cache", provider.name)
        return None

    def _store(self, call: Call, reply: Reply) -> None:
        entry = {"text": reply.text, "usage": reply.usage}
        if self.cache_breaker.state != "closed":  # only a cache this call could read from is written to
            return
        try:
            if self._cacheable(call) and self.cache is not None:
                self.cache.put(self._keys(call, reply.model), entry)
            if call.vector is not None and self.semantic is not None:
                self.semantic.put(self._scope(call, reply.model), call.question, call.vector, entry)
        except self.cache_errors as exc:
            self._cache_failed("not written", exc)

    def _record(
        self,
        call: Call,
        outcome: Outcome,
        provider: Provider | None,
        *,
        reply: Reply | None = None,
        fallback: bool = False,
        error: BaseException | None = None,
    ) -> None:
        served = reply is not None and reply.served_by == "model"
        usage = reply.usage if served and reply is not None else {}
        from components.gateway.usage import UsageRecord

        record = UsageRecord(
            prompt=call.prompt,
            model=call.model or (provider.model if provider else ""),
            provider=provider.name if provider else "",
            outcome=outcome,
            cache=call.cache,
            tokens_in=usage.get("prompt_tokens", 0),
            tokens_out=usage.get("completion_tokens", 0),
            latency_ms=call.ms(),
            ttft_ms=call.ttft_ms if served else None,
            fallback=fallback,
            cost_usd=reply.cost_usd if reply else 0.0,
            error=self.mask(f"{type(error).__name__}: {error}")[:500] if error else "",
            pipeline=call.run.pipeline,
            run_id=call.run.run_id,
            stage=call.run.stage,
            endpoint=call.run.endpoint,
            org=call.run.org,
            key_id=call.run.key_id,
        )
        try:
            self.usage.record(record)
        except self.records.errors as exc:  # the record is for reports; the answer still counts
            log.warning("usage not recorded (%s)", self.mask(f"{type(exc).__name__}: {exc}"))
        self._notify(record)

    def _notify(self, record: UsageRecord) -> None:
        for observer in self.observers:
            try:
                observer(record)
            except Exception:  # an observer's bug costs its own numbers, never the call
                log.exception("usage observer failed")

    def mask(self, text: str) -> str:
        return self.secrets.scrub(text)


def _ended(exc: BaseException) -> Outcome:
    """The record's outcome of a call that ended early: refused (over budget), error, or cancelled (the client
    went away)."""
    if isinstance(exc, BudgetExceeded):
        return "refused"
    return "cancelled" if isinstance(exc, StreamClosed) else "error"
