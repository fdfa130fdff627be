"""The settings of an `llm.gateway` resource, checked when the YAML is validated: the route names declared
providers, and a money budget has a price for every model it may pay for."""

from __future__ import annotations

import difflib
from typing import Literal

from pydantic import Field, model_validator

from components.base import ComponentParams

# Context windows of well-known hosted models, by name prefix; others set `context_window`.
KNOWN_WINDOWS = {"gpt-4.1": 1_047_576, "gpt-4o": 128_000, "o1": 200_000, "o3": 200_000, "gpt-3.5-turbo": 16_385}
DEFAULT_WINDOW = 8192


class ProviderSpec(ComponentParams):
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
    local_context: int = Field(4096, ge=512, le=32768, description="Context size of the embedded local model.")
    local_threads: int = Field(2, ge=1, le=64, description="Threads of the embedded local model.")
    local_parallel: int = Field(
        2, ge=1, le=16, description="Requests the embedded local model decodes at once, each with local_context."
    )

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


class BudgetSettings(ComponentParams):
    daily_usd: dict[str, float] = Field(default_factory=dict, description="Pipeline -> dollars a UTC day ('*': any).")
    daily_tokens: dict[str, int] = Field(default_factory=dict, description="Pipeline -> tokens a UTC day ('*': any).")

    def limits(self, pipeline: str) -> tuple[int | None, float | None]:
        tokens = self.daily_tokens.get(pipeline, self.daily_tokens.get(ANY))
        usd = self.daily_usd.get(pipeline, self.daily_usd.get(ANY))
        return tokens, usd


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


class CacheSettings(ComponentParams):
    exact: bool = Field(True, description="Reuse replies to identical requests at temperature 0.")
    semantic: SemanticSettings | None = Field(
        None, description="Reuse replies to questions that mean the same, below temperature 0.3; off when unset."
    )


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
    backoff: float = Field(0.5, ge=0, le=60, description="Seconds of the first retry's backoff bound; doubles.")
    backoff_cap: float = Field(8.0, ge=0, le=600, description="Longest wait between retries (Retry-After too).")

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
        if self.budgets.daily_usd:
            unpriced = sorted({self.providers[n].model_name() for n in self.route} - set(self.prices))
            if unpriced:
                raise ValueError(f"budgets.daily_usd needs a price for every routed model; no price for {unpriced}")

    def price(self, model: str) -> Price:
        return self.prices.get(model, FREE)
