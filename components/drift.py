"""`drift.check`: does a current sample still look like the reference (the training data), column by column?

The statistics and their size-aware thresholds are in components/drift_stats.py, the reading of the samples and
the schema check in components/drift_io.py, the LLM columns in components/drift_llm.py. This module is the
component, its report (terminal, Prefect artifact with a table and a plot per column, JSON) and its failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator

from components.base import Component, ComponentParams, FailedWithOutputs, Presentable
from components.drift_stats import CategoricalMethod, NumericMethod
from components.features.store import FeastStore
from components.gateway.resource import LlmGateway
from components.resources import Uses

if TYPE_CHECKING:
    import pandas as pd

    from components.drift_stats import ColumnDrift, Thresholds

PREDICTION = "prediction"
REFERENCE, CURRENT, DRIFTED = "#2563eb", "#f59e0b", "#dc2626"


class DriftDetected(FailedWithOutputs):
    """`on_drift: fail` and some columns drifted; the report is still the stage's output."""


@dataclass(frozen=True)
class DriftReport(Presentable):
    """Every compared column's test, statistic, threshold and verdict."""

    columns: list[ColumnDrift]
    reference: str  # where each sample came from, for the titles
    current: str
    alpha: float

    @property
    def drifted(self) -> list[str]:
        return [c.name for c in self.columns if c.drifted]

    def as_data(self) -> dict[str, Any]:
        return {"columns": {c.name: c.as_data() for c in self.columns}, "drifted": self.drifted}

    def present(self) -> str:
        head = f"drift of {self.current} against {self.reference}: "
        head += f"{len(self.drifted)} of {len(self.columns)} columns drifted" + (
            f" ({', '.join(self.drifted)})" if self.drifted else ""
        )
        lines = [head, f"  {'column':<24} {'method':<11} {'statistic':>10} {'threshold':>10}  drifted"]
        for c in self.columns:
            mark = "DRIFT" if c.drifted else "-"
            lines.append(f"  {c.name:<24} {c.method:<11} {_num(c.statistic):>10} {_num(c.threshold):>10}  {mark}")
        return "\n".join(lines)

    def as_markdown(self) -> str:
        verdict = f"**{len(self.drifted)} of {len(self.columns)} columns drifted**"
        verdict += f": {', '.join(f'`{n}`' for n in self.drifted)}" if self.drifted else ""
        lines = [
            "# Drift check",
            "",
            f"Current `{self.current}` against reference `{self.reference}`. {verdict}.",
            "",
            "| Column | Method | Statistic | Threshold | Critical value | Rows (ref / cur) | Drifted |",
            "|---|---|---:|---:|---:|---:|---|",
            *(_row(c) for c in self.columns),
            "",
            f"A column drifts when its statistic exceeds its threshold: the larger of the critical value (at "
            f"{self.alpha:g} for the whole report, for these sample sizes) and the minimum effect size.",
            "",
        ]
        ordered = sorted(self.columns, key=lambda c: not c.drifted)  # drifted columns' plots first
        return "\n".join(lines + [p for c in ordered for p in _plot(c)])


def _row(c: ColumnDrift) -> str:
    verdict = "**yes**" if c.drifted else "no"
    cells = [c.name.replace("|", "/"), c.method.upper(), _num(c.statistic), _num(c.threshold)]
    cells += [_num(c.critical_value), f"{c.n_reference:,} / {c.n_current:,}", verdict]
    return "| " + " | ".join(cells) + " |"


def _plot(c: ColumnDrift) -> list[str]:
    from components.charts import Series, grouped_bar_chart, markdown_image

    if not c.distribution.labels:
        return []
    title = f"{c.name}: {c.method.upper()} {_num(c.statistic)} (threshold {_num(c.threshold)})"
    title += " DRIFTED" if c.drifted else ""
    layers = [  # in percent of each side's rows, so samples of any sizes compare
        Series("reference %", REFERENCE, [100 * v for v in c.distribution.reference]),
        Series("current %", DRIFTED if c.drifted else CURRENT, [100 * v for v in c.distribution.current]),
    ]
    chart = grouped_bar_chart(title, c.distribution.labels, layers)
    return [f"## {c.name}", "", markdown_image(f"Distribution of {c.name}, reference and current", chart), ""]


def _num(value: float) -> str:
    return "n/a" if value != value else f"{value:.4f}"  # NaN: a side had no values


class DriftCheckParams(ComponentParams):
    reference: str | None = Field(
        None, description="The reference sample (training data): a .csv or .parquet file, or feast:VIEW@START..END."
    )
    current: str | None = Field(
        None, description="The current sample, same columns: a .csv or .parquet file, or feast:VIEW@START..END."
    )
    store: Annotated[str | None, Uses(FeastStore)] = Field(
        None, description="The `feast.store` resource that feast:VIEW@START..END samples are read from."
    )
    now: str = Field("", description="Where relative Feast windows (7d..now) end: an ISO time; blank: the clock.")
    numeric_method: NumericMethod = Field(
        "ks", description="Numeric columns: ks (Kolmogorov-Smirnov) or wasserstein (Wasserstein-1 / reference std)."
    )
    categorical_method: CategoricalMethod = Field(
        "psi", description="Categorical columns: psi (population stability index) or js (Jensen-Shannon, nats)."
    )
    columns: list[str] = Field(default_factory=list, description="Columns to compare; empty: every column.")
    on_drift: Literal["fail", "warn"] = Field("warn", description="fail: the stage fails when a column drifted.")
    out: str | None = Field(None, description="Also write the report as JSON to this file (parents are created).")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="Chance of any false alarm in a report without drift.")
    min_ks: float = Field(0.05, ge=0, le=1, description="Smallest KS statistic that counts as drift.")
    min_psi: float = Field(0.02, ge=0, description="Smallest PSI that counts as drift.")
    min_wasserstein: float = Field(
        0.1, ge=0, description="Smallest Wasserstein-1 (in reference standard deviations) that counts as drift."
    )
    min_js: float = Field(0.0025, ge=0, le=1, description="Smallest Jensen-Shannon divergence that counts as drift.")
    rare: float = Field(0.01, ge=0, lt=1, description="Categories rarer than this in the reference share one bin.")
    llm: Annotated[str | None, Uses(LlmGateway)] = Field(
        None, description="An `llm.gateway` resource: also compare its calls of two windows (output drift)."
    )
    llm_reference: str = Field("7d", description="The reference window of LLM calls, just before the current one.")
    llm_current: str = Field("1d", description="The current window of LLM calls, back from now (1d, 12h...).")

    @field_validator("llm_reference", "llm_current")
    @classmethod
    def _window(cls, value: str) -> str:
        from components.usagereport import window_seconds

        window_seconds(value)
        return value

    @field_validator("llm_current")
    @classmethod
    def _back_from_now(cls, value: str) -> str:
        if value == "all":
            raise ValueError("must be a window back from now (e.g. 1d), not all")
        return value


@dataclass(frozen=True)
class DriftCheckOutput:
    report: DriftReport


class DriftCheck(Component[DriftCheckParams]):
    """Compares a current sample with a reference column by column (KS or Wasserstein, PSI or Jensen-Shannon),
    against thresholds sized to the samples; `on_drift: fail` fails naming the drifted columns.

    Numeric columns with Kolmogorov-Smirnov (or Wasserstein-1 in reference standard deviations), categorical ones
    with PSI (or Jensen-Shannon; rare categories binned), each against the larger of its critical value for the
    two sample sizes and a minimum effect size. A sample is a CSV or Parquet file, or a Feast feature view's rows
    in a time window (``feast:VIEW@START..END``, read through the ``store`` resource). Optionally the model's
    predictions (as a column `prediction`) and the LLM gateway's output drift (reply length, refusal and error
    rates) of two windows. Schema mismatches are errors that name the columns. With ``out`` it writes the report
    as JSON; a failed check still shows its report.

    Example:

    ```yaml
    uses: drift.check
    with:
      reference: data/train.parquet
      current: data/last-week.parquet
      columns: [dep_delay, carrier]
      on_drift: fail
      out: .dagwright/reports/drift.json
    ```

    From Feast, the last week against the training months, with Wasserstein and Jensen-Shannon:

    ```yaml
    uses: drift.check
    with:
      store: features
      reference: feast:origin_weather@2013-01-01..2013-09-01
      current: feast:origin_weather@7d..now
      numeric_method: wasserstein
      categorical_method: js
    ```
    """

    name = "drift.check"
    cacheable = False  # its files and the gateway's records change under the same params (a weekly check)

    def run(
        self, reference_predictions: list[Any] | None = None, current_predictions: list[Any] | None = None
    ) -> DriftCheckOutput:
        from components.drift_feast import parse_now
        from components.sinks import write_json

        p = self.params
        now = parse_now(p.now)  # once, so both relative windows end at the same moment
        _check_sources(p, now)
        columns: list[ColumnDrift] = []
        if p.reference is not None and p.current is not None:
            columns += self._compare_samples(p.reference, p.current, reference_predictions, current_predictions, now)
        if p.llm is not None:
            from components.drift_llm import llm_samples

            ref, cur = llm_samples(self.resources.get(p.llm, LlmGateway), p.llm_reference, p.llm_current)
            columns += compare(ref, cur, list(ref.columns), self._thresholds())
        report = DriftReport(columns, p.reference or f"LLM calls, {p.llm_reference} before", p.current or
                             f"LLM calls, last {p.llm_current}", p.alpha)  # fmt: skip
        if p.out:
            write_json(Path(p.out), report.as_data())
        if report.drifted and p.on_drift == "fail":
            raise DriftDetected(
                f"drift in {len(report.drifted)} column(s): {', '.join(report.drifted)}", DriftCheckOutput(report)
            )
        return DriftCheckOutput(report)

    def _compare_samples(
        self, reference: str, current: str, ref_pred: list[Any] | None, cur_pred: list[Any] | None, now: datetime
    ) -> list[ColumnDrift]:
        from components.drift_io import DriftInputError, compared_columns

        if bool(ref_pred) != bool(cur_pred):
            raise DriftInputError("give both reference_predictions and current_predictions, or neither")
        ref, cur = self._read(reference, "reference", now), self._read(current, "current", now)
        kinds = compared_columns(ref, cur, self.params.columns)
        found = compare(ref, cur, list(kinds), self._thresholds(), extra=bool(ref_pred))
        if ref_pred and cur_pred:
            found += predictions_drift(ref_pred, cur_pred, self._thresholds(), len(kinds) + 1)
        return found

    def _read(self, source: str, role: str, now: datetime) -> pd.DataFrame:
        from components.drift_feast import is_feast, read_view
        from components.drift_io import read_sample

        if not is_feast(source) or self.params.store is None:  # no store: refused by _check_sources already
            return read_sample(source, role)
        store = self.resources.get(self.params.store, FeastStore)
        return read_view(store, source, role, now, self.params.columns)

    def _thresholds(self) -> Thresholds:
        from components.drift_stats import Thresholds

        p = self.params
        return Thresholds(
            alpha=p.alpha, min_ks=p.min_ks, min_psi=p.min_psi, rare=p.rare, numeric=p.numeric_method,
            categorical=p.categorical_method, min_wasserstein=p.min_wasserstein, min_js=p.min_js,
        )  # fmt: skip


def _check_sources(p: DriftCheckParams, now: datetime) -> None:
    """Checked when the stage runs, not in the params model: at plan time a `${params...}` value is not known.
    Feast sources are parsed here, before the store is opened (Feast takes seconds to import)."""
    from components.drift_feast import is_feast, parse_source
    from components.drift_io import DriftInputError

    for role, source in (("reference", p.reference), ("current", p.current)):
        if source is None or not is_feast(source):
            continue
        if p.store is None:
            raise DriftInputError(f"{role} '{source}': a Feast sample needs the 'store' param (a feast.store resource)")
        parse_source(source, role, now)

    if (p.reference is None) != (p.current is None):
        raise DriftInputError("give both 'reference' and 'current', or neither (with 'llm')")
    if p.reference is None and p.llm is None:
        raise DriftInputError("nothing to compare: give 'reference' and 'current' samples, or an 'llm' gateway")


def compare(
    reference: pd.DataFrame, current: pd.DataFrame, names: list[str], t: Thresholds, *, extra: bool = False
) -> list[ColumnDrift]:
    """One test per column, at ``alpha`` split evenly among the columns (Bonferroni; one more with ``extra``)."""
    from components.drift_io import as_floats, column_kind
    from components.drift_stats import categorical_drift, numeric_drift

    alpha = t.alpha / max(len(names) + int(extra), 1)
    found = []
    for name in names:
        if column_kind(reference[name]) == "numeric":
            found.append(numeric_drift(name, as_floats(reference[name]), as_floats(current[name]), alpha, t))
        else:
            found.append(categorical_drift(name, reference[name], current[name], alpha, t))
    return found


def predictions_drift(reference: list[Any], current: list[Any], t: Thresholds, tests: int) -> list[ColumnDrift]:
    """The model's predictions as one more column, `prediction` (``tests``: the report's number of tests)."""
    from dataclasses import replace

    import pandas as pd

    ref, cur = pd.DataFrame({PREDICTION: reference}), pd.DataFrame({PREDICTION: current})
    return compare(ref, cur, [PREDICTION], replace(t, alpha=t.alpha / tests))
