"""The typed model of pipelines.yaml. Field descriptions here are the reference users read (README, JSON Schema)."""

from __future__ import annotations

import builtins
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from components.durations import parse_duration
from flows.language.refs import IDENTIFIER

ParamType = Literal["string", "integer", "number", "boolean", "list", "object"]
PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "list": list,
    "object": dict,
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Policies(Strict):
    """How a stage is run. Unset fields inherit: stage <- pipeline defaults <- file defaults <- built-in."""

    retries: int | None = Field(None, ge=0, le=20, description="Extra attempts after a failure.")
    retry_delay: float | None = Field(None, ge=0, description="Seconds (or '30s', '2m') between attempts.")
    timeout: float | None = Field(None, gt=0, description="Seconds (or '10m') before the stage is failed.")
    cache: bool | None = Field(
        None, description="Reuse the result of an earlier run with the same component, params and inputs."
    )
    on_fail: Literal["stop", "warn", "quarantine"] | None = Field(
        None, description="When a check fails: stop the run, warn and go on, or quarantine the failing rows."
    )

    @field_validator("retry_delay", "timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)


BUILTIN_POLICIES = Policies(retries=0, retry_delay=0.0, timeout=None, cache=True, on_fail="stop")

CheckList = list[str | dict[str, dict[str, Any] | None]]


class StageChecks(Strict):
    """Checks on a stage's ports: `name` or `{name: {args}}` items, per input and output port."""

    inputs: dict[str, CheckList] = Field(default_factory=dict, description="Input port -> checks before the run.")
    outputs: dict[str, CheckList] = Field(default_factory=dict, description="Output port -> checks after the run.")
    defaults: bool = Field(True, description="Keep the component's own checks on the ports not listed here.")


class Param(Strict):
    """A run parameter. Shorthand: ``name: default`` infers the type from the default."""

    type: ParamType = Field("string", description="One of string, integer, number, boolean, list, object.")
    default: Any = Field(None, description="Value when the run gives none; without it the param is required.")
    description: str = ""
    enum: list[Any] | None = Field(None, description="The only values allowed.")
    minimum: float | None = Field(None, description="Smallest value allowed (integer and number params).")
    maximum: float | None = Field(None, description="Largest value allowed (integer and number params).")
    min_length: int | None = Field(
        None,
        ge=0,
        description="Fewest characters a string param takes, not counting whitespace around the text: "
        "`min_length: 1` refuses an empty or blank value.",
    )
    max_length: int | None = Field(None, ge=0, description="Most characters a string param takes.")
    pattern: str | None = Field(
        None,
        description="A regular expression the string must contain a match of (JSON Schema's `pattern`; "
        "anchor it with ^...$ to match the whole value).",
    )
    secret: bool = Field(
        False,
        description="Never shown: masked in every message, log and artifact of a run, and a password field in "
        "the Prefect run form. A secret is a string given at run time, so it has no default.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict) or value is None:
            return value if value is not None else {}
        return {"type": infer_param_type(value), "default": value}

    @model_validator(mode="after")
    def _secret_given_at_run_time(self) -> Param:
        if self.secret and self.type != "string":
            raise ValueError(f"a secret param is a string, not {self.type}")
        if self.secret and not self.required:
            raise ValueError("a secret param has no default (secrets never go in the YAML); pass it when running")
        return self

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _constraints_fit_the_type(self) -> Param:
        # A bound the type cannot have would reach the run form as a schema Prefect ignores or misreads.
        for name, kinds in _CONSTRAINT_KINDS.items():
            if getattr(self, name) is not None and self.type not in kinds:
                raise ValueError(f"{name} applies to {' and '.join(kinds)} params, not {self.type}")
        for low, high in (("minimum", "maximum"), ("min_length", "max_length")):
            if None not in (getattr(self, low), getattr(self, high)) and getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} {getattr(self, low)} is above {high} {getattr(self, high)}")
        return self

    @property
    def required(self) -> bool:
        return "default" not in self.model_fields_set

    @property
    def python_type(self) -> builtins.type:  # `type` is a field of this model
        return PYTHON_TYPES[self.type]


_CONSTRAINT_KINDS: dict[str, tuple[str, ...]] = {
    "minimum": ("integer", "number"),
    "maximum": ("integer", "number"),
    "min_length": ("string",),
    "max_length": ("string",),
    "pattern": ("string",),
}


def infer_param_type(value: Any) -> str:
    for name, py in (("boolean", bool), ("integer", int), ("number", float), ("list", list), ("object", dict)):
        if isinstance(value, py):
            return name
    return "string"


class Schedule(Strict):
    """When a deployed pipeline runs by itself: a cron string or an interval, in a timezone."""

    cron: str | None = Field(None, description="Five-field cron ('0 * * * *') or @hourly/@daily/@weekly/...")
    interval: float | None = Field(None, gt=0, description="Seconds (or '15m', '1h') between runs.")
    timezone: str = Field("UTC", description="IANA timezone name, e.g. Europe/Paris.")
    active: bool = Field(True, description="False keeps the schedule but pauses it.")

    @field_validator("interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        return None if value is None else validate_cron(value)

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as 'UTC' or 'Europe/Paris'") from None
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of 'cron' or 'interval'")
        return self


CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def validate_cron(expression: str) -> str:
    """The expression, if it is a valid five-field cron string or alias; otherwise a ValueError saying why."""
    from datetime import datetime

    from cronsim import CronSim, CronSimError

    try:
        CronSim(CRON_ALIASES.get(expression.strip(), expression), datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ValueError(
            f"invalid cron {expression!r}: {exc}; expected 5 fields 'minute hour day month weekday'"
        ) from None
    return expression


class Stage(Policies):
    """One step of a pipeline: a component, its settings, and where its inputs come from."""

    uses: str = Field(
        description="Registered component name, `family.variant` (see `dagwright components`), or a Haystack "
        "component, `haystack:<module>.<Class>` (under haystack., haystack_integrations. or components.)."
    )
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="The component's params.")
    inputs: dict[str, str] = Field(default_factory=dict, description="Input port -> 'stage.port' or '${params.NAME}'.")
    after: list[str] = Field(
        default_factory=list, description="Stages that must finish first though no data flows from them."
    )
    checks: StageChecks | bool = Field(
        True, description="Data-quality checks on the stage's ports; false turns all off, defaults included."
    )
    description: str = ""


class Serve(Strict):
    """How `dagwright serve` offers a pipeline over HTTP (`serve: true` is `serve: {}`)."""

    chat: bool = Field(
        False,
        description="Also answer OpenAI-compatible /v1/chat/completions with model = the pipeline's name; the "
        "last user message is its `question` param.",
    )


def _with_shorthand(schema: dict[str, Any]) -> None:
    """`serve: true` is `serve: {}`; the schema says so, as the loader takes it."""
    schema["anyOf"] = [{"type": "boolean"}, *schema["anyOf"]]


class Pipeline(Strict):
    """A DAG of stages, run as one Prefect flow whose parameters are ``params``."""

    description: str = ""
    params: dict[str, Param] = Field(default_factory=dict)
    schedule: Schedule | None = None
    serve: Serve | None = Field(
        None,
        description="Serve it over HTTP with `dagwright serve`: true, or {chat: true} for the OpenAI-compatible "
        "chat endpoint too. Unset or false: not served.",
        json_schema_extra=_with_shorthand,
    )
    tags: list[str] = Field(default_factory=list)
    defaults: Policies = Field(default_factory=Policies, description="Policies for this pipeline's stages.")
    stages: dict[str, Stage] = Field(description="Stage id -> stage. Ids are short verbs: read, chunk, embed.")

    @field_validator("serve", mode="before")
    @classmethod
    def _serve_shorthand(cls, value: Any) -> Any:
        if value is True:
            return {}
        if value is False or value is None:
            return None
        if not isinstance(value, dict):
            raise ValueError(f"expected true, false or a mapping such as {{chat: true}}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _chat_has_a_question(self) -> Pipeline:
        if self.serve is not None and self.serve.chat:
            question = self.params.get("question")
            if question is None or question.type != "string":
                known = ", ".join(self.params) or "(none)"
                raise ValueError(
                    f"a chat pipeline (serve: {{chat: true}}) needs a string param 'question' for the last user "
                    f"message; params are: {known}"
                )
        return self

    @field_validator("params", "stages")
    @classmethod
    def _identifiers(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in value if not isinstance(k, str) or not re.match(IDENTIFIER, k)]
        if bad:
            raise ValueError(f"names must start with a letter and use only letters, digits, '_' or '-': {bad}")
        return value

    @field_validator("stages")
    @classmethod
    def _not_empty(cls, value: dict[str, Stage]) -> dict[str, Stage]:
        if not value:
            raise ValueError("a pipeline needs at least one stage")
        return value


class ResourceSpec(Strict):
    """A long-lived thing that stages share (a vector store, an embedding model, an LLM provider), built from a
    registered resource type with typed settings, opened once per process on first use."""

    uses: str = Field(description="Registered resource type, `family.variant` (see `dagwright resources --types`).")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="The resource type's settings.")
    description: str = ""


class Profile(Strict):
    """Overrides chosen with `--profile NAME` or DAGWRIGHT_PROFILE, as dbt targets: the same pipelines, other
    resources (e.g. pgvector instead of the embedded store) and defaults."""

    resources: dict[str, ResourceSpec] = Field(default_factory=dict, description="Resources replaced by name.")
    defaults: Policies | None = Field(None, description="Policies merged over the file's defaults.")


class PipelinesFile(Strict):
    """The root of pipelines.yaml."""

    version: Literal[1] = Field(1, description="Version of this file's format.")
    defaults: Policies = Field(default_factory=Policies, description="Policies for every stage of every pipeline.")
    resources: dict[str, ResourceSpec] = Field(
        default_factory=dict, description="Name -> a resource stages share; stages name it in their `with`."
    )
    profiles: dict[str, Profile] = Field(default_factory=dict, description="Profile name -> overrides.")
    pipelines: dict[str, Pipeline] = Field(description="Pipeline name -> pipeline.")

    @field_validator("pipelines", "resources", "profiles")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        return Pipeline._identifiers(value)


def effective_policies(*layers: Policies) -> Policies:
    """Merge policy layers, most specific first; the built-in layer fills what none of them set."""
    merged: dict[str, Any] = {}
    for layer in (*layers, BUILTIN_POLICIES):
        for name in Policies.model_fields:
            if merged.get(name) is None and name in layer.model_fields_set:
                merged[name] = getattr(layer, name)
    for name in Policies.model_fields:
        merged.setdefault(name, getattr(BUILTIN_POLICIES, name))
    return Policies(**merged)
