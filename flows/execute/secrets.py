"""The secrets of one run, and the one function that takes them out of text leaving the engine.

A run's secrets are the values it reads with `${env:NAME}` (in its stages' and resources' settings) and the
values of params declared `secret: true`. Drivers and libraries quote what they were given in their exceptions
(psycopg: `invalid connection option "user:password@host"`), so every text made from an exception is scrubbed
where it leaves the engine: stage results, reporters (console and Prefect logs), Prefect state messages,
artifacts, and the exception Prefect itself logs and stores.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from components.masking import Secrets
from flows.errors import DagwrightError
from flows.language.refs import EnvRef, RefError, placeholders, walk_strings
from flows.plan.planner import Plan

if TYPE_CHECKING:  # they import this module
    from flows.execute.gates import GateReport
    from flows.execute.runtime import StageResult


def env_names(settings: Mapping[str, Any]) -> set[str]:
    """The environment variables a stage's or resource's settings read."""
    names: set[str] = set()
    for _, text in walk_strings(dict(settings)):
        try:
            names.update(r.name for r in placeholders(text) if isinstance(r, EnvRef))
        except RefError:
            continue
    return names


def secrets_of_run(plan: Plan, params: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Secrets:
    """What a run of ``plan`` must never show: the environment values its stages and resources read, and its
    secret params."""
    env = os.environ if env is None else env
    names: set[str] = set()
    for stage in plan.stages:
        names |= env_names(stage.with_)
    for resource in plan.resources.values():
        names |= env_names(resource.with_)
    values = [env[n] for n in names if env.get(n)]
    values += [params[n] for n, p in plan.pipeline.params.items() if p.secret and params.get(n) is not None]
    return Secrets.of(values)


class ScrubbedError(DagwrightError):
    """A stage's exception with the run's secrets masked: its type name and message, its frames, no causes.
    Raised to Prefect in place of the original, whose text Prefect would log and store."""

    def __init__(self, message: str, *, type_name: str, retryable: bool) -> None:
        super().__init__(message)
        self.type_name, self.retryable = type_name, retryable


def scrubbed_exception(exc: BaseException, secrets: Secrets, *, retryable: bool) -> BaseException:
    """``exc`` itself when neither its message nor its causes show a secret; else a ScrubbedError that keeps
    its type name and frames (which show code, not values) and drops its causes."""
    import traceback

    full = "".join(traceback.format_exception(exc))
    if secrets.scrub(full) == full:
        return exc
    text = secrets.scrub(f"{type(exc).__name__}: {exc}")
    return ScrubbedError(text, type_name=type(exc).__name__, retryable=retryable).with_traceback(exc.__traceback__)


def scrub_result(result: StageResult, secrets: Secrets) -> StageResult:
    """A StageResult with its error, traceback and gate reports scrubbed."""
    if not secrets:
        return result
    gates = [scrub_gate(g, secrets) for g in result.gates]
    error, tb = secrets.scrub_optional(result.error), secrets.scrub_optional(result.traceback)
    return replace(result, error=error, traceback=tb, gates=gates)


def scrub_gate(report: GateReport, secrets: Secrets) -> GateReport:
    """A GateReport whose observations (which may quote data) are scrubbed."""
    if not secrets:
        return report
    results = [replace(r, observed=secrets.scrub(r.observed)) for r in report.results]
    quarantined = {port: secrets.scrub(path) for port, path in report.quarantined.items()}
    return replace(report, results=results, quarantined=quarantined)


class ScrubFilter(logging.Filter):
    """Masks a run's secrets in every log record a handler emits, its traceback included: defence in depth
    behind the scrubbing of the engine's own messages, for what a library logs by itself."""

    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.secrets.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = self.secrets.scrub(text), None
        elif record.exc_text:
            record.exc_text = self.secrets.scrub(record.exc_text)
        return True


@contextmanager
def scrubbed_logs(secrets: Secrets, loggers: tuple[str, ...] = ("dagwright", "prefect")) -> Iterator[None]:
    """While a run lasts, every handler of these loggers (and their children, and the root) masks its secrets."""
    if not secrets:
        yield
        return
    handlers = set(logging.getLogger().handlers)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and any(name == n or name.startswith(n + ".") for n in loggers):
            handlers.update(logger.handlers)
    for name in loggers:
        handlers.update(logging.getLogger(name).handlers)
    found = ScrubFilter(secrets)
    for handler in handlers:
        handler.addFilter(found)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(found)
