"""The settings of an `llm.gateway` resource, checked when the YAML is validated: the route names declared
providers, and a money budget has a price for every model it may pay for."""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from components.base import ComponentParams
from components.durations import duration_in_schema, parse_duration
from components.localmodel import LocalModelSettings

# Context windows of well-known hosted models, by name prefix; others set `context_window`.
KNOWN_WINDOWS = {"gpt-4.1": 1_047_576, "gpt-4o": 128_000, "o1": 200_000, "o3": 200_000, "gpt-3.5-turbo": 16_385}
DEFAULT_WINDOW = 8192


class ProviderSpec(LocalModelSettings):
    kind: Literal["llama_cpp", "openai"] = Field(
        description="llama_cpp: a llama.cpp server (the embedded SmolLM2 one without base_url), exact token "
        "counts from its /tokenize; openai: any OpenAI-compatible endpoint, tokens counted with tiktoken's encodings."
    )
    base_url: str | None = Field(None, description="Endpoint ending in /v1; for llama_cpp, unset = embedded model.")
    api_key: str | None = Field(None, description="Use ${env:NAME}; never write a key in the YAML.")
    model: str | None = Field(None, description="Model name at the endpoint; llama_cpp default smollm2-135m-instruct.")
    context_window: int | None = Field(None, ge=256, description="Tokens the model reads; default: asked/known.")
    encoding: str | None = Field(None, description="openai kind: tiktoken encoding to count with (o200k_base...).")
    timeout: float = Field(120, gt=0, description="Seconds per attempt.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries of retryable failures before the fallback.")

    @model_validator(mode="after")
    def _needs(self) -> ProviderSpec:
        if self.kind == "openai" and not (self.base_url and self.model):
            raise ValueError("a provider of kind openai needs base_url and model")
        return self

    def model_name(self) -> str:
        from components.llmserver import LOCAL_MODEL

        return self.model or LOCAL_MODEL


MAX_TEMPERATURE = 0.3  # at or above it replies vary enough that serving one for another is a wrong answer
ANY = "*"  # a budget for every pipeline not named


# A key id, or the name `dagwright serve` gives each client address when it runs without API keys.
KEY_ID = re.compile(r"^([0-9a-f]{12}|client:\S+)$")


class ScopeLimits(ComponentParams):
    """Daily limits of one kind of scope: name -> limit, `'*'` for each one not named."""

    daily_usd: dict[str, float] = Field(default_factory=dict, description="Name -> dollars a UTC day ('*': any).")
    daily_tokens: dict[str, int] = Field(default_factory=dict, description="Name -> tokens a UTC day ('*': any).")

    def limits(self, name: str) -> tuple[int | None, float | None]:
        """The token and dollar limits of the scope ``name`` (None: no limit)."""
        return self.daily_tokens.get(name, self.daily_tokens.get(ANY)), self.daily_usd.get(
            name, self.daily_usd.get(ANY)
        )

    def names(self) -> set[str]:
        return set(self.daily_usd) | set(self.daily_tokens)


class KeyLimits(ScopeLimits):
    @model_validator(mode="after")
    def _key_ids(self) -> KeyLimits:
        # A raw API key written here would be a secret in the YAML, so it is refused without being quoted.
        bad = sum(1 for name in self.names() if name != ANY and not KEY_ID.match(name))
        if bad:
            raise ValueError(
                f"{bad} name(s) are not key ids (not shown: they may be keys); name a key by its id, the first 12 "
                "hex digits of its SHA-256 (`printf %s KEY | sha256sum | cut -c1-12`), 'client:ADDRESS' when serving "
                "without keys, or '*' for each key"
            )
        return self


class BudgetSettings(ScopeLimits):
    """Per pipeline (`daily_usd`, `daily_tokens`), and per endpoint, API key and organisation of the caller."""

    daily_usd: dict[str, float] = Field(default_factory=dict, description="Pipeline -> dollars a UTC day ('*': any).")
    daily_tokens: dict[str, int] = Field(default_factory=dict, description="Pipeline -> tokens a UTC day ('*': any).")
    per_endpoint: ScopeLimits = Field(
        default_factory=ScopeLimits, description="Endpoint of `dagwright serve` (e.g. /v1/chat/completions) -> limits."
    )
    per_key: KeyLimits = Field(
        default_factory=KeyLimits, description="API key id (12 hex digits; 'client:ADDRESS' without keys) -> limits."
    )
    per_org: ScopeLimits = Field(default_factory=ScopeLimits, description="Organisation of the API key -> limits.")

    def kinds(self) -> dict[str, ScopeLimits]:
        """Each kind of scope and its limits, the pipeline's first."""
        return {"pipeline": self, "endpoint": self.per_endpoint, "key": self.per_key, "org": self.per_org}

    def any_money(self) -> bool:
        return any(limits.daily_usd for limits in self.kinds().values())


class Price(ComponentParams):
    input_per_1k: float = Field(0.0, ge=0, description="Dollars per 1,000 prompt tokens.")
    output_per_1k: float = Field(0.0, ge=0, description="Dollars per 1,000 completion tokens.")

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_1k + tokens_out * self.output_per_1k) / 1000


FREE = Price()


class SemanticSettings(ComponentParams):
    threshold: float = Field(
        0.95, ge=0.8, le=1.0, description="Least cosine similarity of two questions' MiniLM embeddings for a hit."
    )
    guard: bool = Field(
        True, description="Also require equal content tokens (words, numbers, extensions), so near misses miss."
    )
    max_entries: int = Field(
        10_000, ge=1, le=10_000_000, description="Most questions kept per scope; the oldest are evicted first."
    )


class CacheSettings(ComponentParams):
    exact: bool = Field(True, description="Reuse replies to identical requests at temperature 0.")
    semantic: SemanticSettings | None = Field(
        None, description="Reuse replies to questions that mean the same, below temperature 0.3; off when unset."
    )
    ttl: float | None = Field(
        7 * 86400.0,
        gt=0,
        description="How long an entry is kept ('12h', '7d'; null: for ever). Entries never go stale (their key "
        "holds all the answer depends on): the TTL only bounds the space.",
        json_schema_extra=duration_in_schema,
    )
    prefix: str = Field(
        "dagwright:llm:", min_length=1, max_length=100, description="Redis only: the prefix of every key written."
    )

    @field_validator("ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def check_redis_url(url: str | None) -> str | None:
    # The URL may carry a password: messages name its scheme at most, never the value.
    if url is not None and not url.startswith(REDIS_SCHEMES):
        raise ValueError(f"expected a Redis URL starting with {', '.join(REDIS_SCHEMES)}")
    return url


def check_dsn(dsn: str | None) -> str | None:
    if dsn is not None and not dsn.startswith(POSTGRES_SCHEMES):
        raise ValueError("expected a PostgreSQL URL, postgresql://USER:PASSWORD@HOST:5432/DB")
    return dsn


class BreakerSettings(ComponentParams):
    failures: int = Field(3, ge=1, le=100, description="Consecutive failed attempts that open a provider's circuit.")
    cooldown: float = Field(30.0, gt=0, description="Seconds an open circuit waits before one trial call.")


def _local() -> dict[str, ProviderSpec]:
    return {"local": ProviderSpec(kind="llama_cpp")}


class GatewaySettings(ComponentParams):
    providers: dict[str, ProviderSpec] = Field(default_factory=_local, description="Name -> provider.")
    route: list[str] = Field(default_factory=lambda: ["local"], min_length=1, description="Tried in order.")
    prices: dict[str, Price] = Field(default_factory=dict, description="Model -> price; unlisted models are free.")
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    redis_url: str | None = Field(
        None,
        description="Keep the exact and semantic caches in this Redis (redis://[:PASSWORD@]HOST:6379/DB); use "
        "${env:NAME}. Unset: SQLite files under the state directory.",
    )
    usage_dsn: str | None = Field(
        None,
        description="Keep the usage records and the budget ledger in this PostgreSQL (postgresql://...); use "
        "${env:NAME}. Unset: SQLite files under the state directory.",
    )
    backoff: float = Field(0.5, ge=0, le=60, description="Seconds of the first retry's backoff bound; doubles.")
    backoff_cap: float = Field(8.0, ge=0, le=600, description="Longest wait between retries (Retry-After too).")

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, url: str | None) -> str | None:
        return check_redis_url(url)

    @field_validator("usage_dsn")
    @classmethod
    def _postgres(cls, dsn: str | None) -> str | None:
        return check_dsn(dsn)

    @model_validator(mode="after")
    def _consistent(self) -> GatewaySettings:
        # Providers that read ${env:...} are validated only when the run fills them in (flows/plan/stageparams.py
        # then leaves them out here): no verdict against the default provider. open() checks again in full.
        if "providers" in self.model_fields_set:
            self.check()
        return self

    def check(self) -> None:
        """The route names declared providers; a money budget has a price for every model it may pay for."""
        for name in self.route:
            if name not in self.providers:
                close = difflib.get_close_matches(name, list(self.providers), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ValueError(
                    f"route names provider '{name}', which is not declared; providers: {sorted(self.providers)}{hint}"
                )
        if self.budgets.any_money():
            unpriced = sorted({self.providers[n].model_name() for n in self.route} - set(self.prices))
            if unpriced:
                raise ValueError(f"a daily_usd budget needs a price for every routed model; no price for {unpriced}")

    def price(self, model: str) -> Price:
        return self.prices.get(model, FREE)
