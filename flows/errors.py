"""Errors the user can act on. The CLI prints these without a traceback; anything else is a bug."""

from __future__ import annotations

from dataclasses import dataclass


class DagwrightError(Exception):
    """Base of every error dagwright reports to a user."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in a pipelines file, located as precisely as the YAML allows."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(DagwrightError):
    """pipelines.yaml is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} found"
        super().__init__("\n".join([header, *map(str, self.problems)]))


class RegistryError(DagwrightError):
    """Components could not be registered (duplicate names, bad definitions)."""


class ParamError(DagwrightError):
    """A run parameter given on the command line or by a caller is unknown or of the wrong type."""


class SettingError(DagwrightError):
    """An environment setting of dagwright's own (``DAGWRIGHT_CACHE_SIZE``...) has an invalid value."""


class StageFailed(DagwrightError):
    """A stage raised; downstream stages did not run."""

    def __init__(self, pipeline: str, stage: str, reason: str) -> None:
        self.pipeline, self.stage, self.reason = pipeline, stage, reason
        super().__init__(f"pipeline '{pipeline}': stage '{stage}' failed: {reason}")


class StageTimeout(DagwrightError):
    """A stage ran longer than its timeout."""
