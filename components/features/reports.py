"""What the feature stages return: reports that show in the terminal and as Prefect artifacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from components.base import Checkable, Presentable


@dataclass(frozen=True)
class ApplyReport(Presentable):
    """What `feast apply` changed in the registry, by object."""

    project: str
    online_store: str
    created: list[str] = field(default_factory=list)  # "feature view origin_weather"
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0

    def present(self) -> str:
        counts = f"{len(self.created)} created, {len(self.updated)} updated, {len(self.deleted)} deleted"
        changed = [f"  {verb} {name}" for verb, names in self._changes() for name in names]
        return "\n".join(
            [f"project {self.project} ({self.online_store}): {counts}, {self.unchanged} unchanged", *changed]
        )

    def as_markdown(self) -> str:
        return "\n".join(["| change | object |", "|---|---|", *self._rows()])

    def _changes(self) -> list[tuple[str, list[str]]]:
        return [("created", self.created), ("updated", self.updated), ("deleted", self.deleted)]

    def _rows(self) -> list[str]:
        return [f"| {verb} | {name} |" for verb, names in self._changes() for name in names] or ["| none | |"]


@dataclass(frozen=True)
class ViewWindow:
    """One feature view's materialization: the window from start to end, both included (as Feast reads it: a row
    exactly at a boundary is written by both windows, with the same value), and the rows written."""

    view: str
    start: str  # ISO 8601, UTC
    end: str
    rows: int


@dataclass(frozen=True)
class MaterializeReport(Presentable):
    online_store: str
    views: list[ViewWindow]

    @property
    def rows(self) -> int:
        return sum(v.rows for v in self.views)

    def present(self) -> str:
        head = f"{self.rows} rows written to the {self.online_store} online store"
        return "\n".join([head, *(f"  {v.view}: {v.rows} rows, {v.start} to {v.end}" for v in self.views)])

    def as_markdown(self) -> str:
        return self.present()

    def as_table(self) -> list[dict[str, Any]]:
        return [{"view": v.view, "start": v.start, "end": v.end, "rows": v.rows} for v in self.views]

    def as_data(self) -> dict[str, Any]:
        return {"online_store": self.online_store, "rows": self.rows, "views": self.as_table()}


@dataclass(frozen=True)
class TrainingSetReport(Checkable, Presentable):
    """Rows in (entity rows asked for) against rows out (Feast's answer): the `rows_kept` check compares them,
    as Feast drops some entity rows without a word (one whose time precedes every feature row of its key)."""

    check_kind: ClassVar[str] = "training_set"

    source: str
    features: str
    rows_in: int
    rows_out: int
    columns: list[str]
    dropped: list[str] = field(default_factory=list)  # a few of the entity rows Feast dropped, as text

    def check_row(self) -> dict[str, Any]:
        return {"rows_in": self.rows_in, "rows_out": self.rows_out, "rows_dropped": self.rows_in - self.rows_out}

    def check_where(self) -> str:
        shown = f": {'; '.join(self.dropped)}" if self.dropped else ""
        return f"{self.source}: {self.rows_in} entity rows in, {self.rows_out} out{shown}"

    def present(self) -> str:
        return f"{self.rows_out} of {self.rows_in} rows, {len(self.columns)} columns ({self.features})"

    def as_markdown(self) -> str:
        return self.present()


@dataclass(frozen=True)
class OnlineFeatures(Presentable):
    """Online feature values, one row per entity key asked for."""

    rows: list[dict[str, Any]]

    def present(self) -> str:
        return "\n".join(str(r) for r in self.rows) or "no rows"

    def as_markdown(self) -> str:
        return self.present()

    def as_table(self) -> list[dict[str, Any]]:
        return self.rows

    def as_data(self) -> list[dict[str, Any]]:
        return self.rows


# A dataclass returned by run() is split into ports by field: these wrap each report as one port.
@dataclass
class Applied:
    report: ApplyReport


@dataclass
class Materialized:
    report: MaterializeReport


@dataclass
class Fetched:
    features: OnlineFeatures
