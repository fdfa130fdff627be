"""Running a stage's checks with Great Expectations and acting on the result: stop, warn or quarantine.

Great Expectations is imported here, on the first gate that runs, never by `validate` or `--help`.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from flows.errors import DagwrightError
from flows.execute.frames import rows_of, to_frame, without_rows
from flows.plan.checks import Check, port_kind


@dataclass(frozen=True)
class CheckResult:
    direction: str
    port: str
    check: str
    success: bool
    observed: str
    unexpected: int
    action: str  # passed, stopped, warned, quarantined


@dataclass
class GateReport:
    stage: str
    results: list[CheckResult] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)  # port -> file with the quarantined rows
    load_seconds: float = 0.0  # loading Great Expectations (first gate in a process): not the stage's own time

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success]


class GateFailed(DagwrightError):
    """A check failed with on_fail: stop; the message lists every failed check and what it observed."""

    def __init__(self, stage: str, failed: list[CheckResult], report: GateReport) -> None:
        self.stage, self.report = stage, report
        details = "; ".join(f"{r.direction}.{r.port}: {r.check} failed ({r.observed})" for r in failed)
        super().__init__(f"gate of stage '{stage}' failed: {details}")


class GxValidator:
    """One ephemeral GX context and pandas asset, built on first use; suites are cheap and built per check set.
    The engine's session keeps one per process (flows/execute/session.py)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batch_definition: Any = None

    def load(self) -> float:
        """Import GX and build its context once: the seconds this call spent doing it (2-7 s the first time, 0.0
        after), so the report can show them apart from the stage's time. A thread that only waited for another
        to load counts the wait as its stage's time."""
        if self._batch_definition is not None:
            return 0.0
        started = time.perf_counter()
        with self._lock:
            if self._batch_definition is not None:
                return 0.0
            self._batch_definition = _new_batch_definition()
        return time.perf_counter() - started

    def batch_definition(self) -> Any:
        self.load()
        return self._batch_definition


def _new_batch_definition() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("dagwright").add_dataframe_asset("port")
    return asset.add_batch_definition_whole_dataframe("value")


class Outcome(NamedTuple):
    check: Check
    ok: bool
    observed: str
    rows: set[int]  # the failing rows, by position in the port's value


# A port that passes has no failing rows to find: GX's BASIC results carry the same observed values and counts
# as COMPLETE ones for ~30% less time (45 -> 32 ms a port of 40 chunks, bench/peer.py), so only a port that
# fails is validated again, to learn which rows failed.
_FAILING_ROWS = {"result_format": "COMPLETE", "unexpected_index_column_names": ["_row"]}


def validate_port(validator: GxValidator, checks: list[Check], frame: Any) -> list[Outcome]:
    """(check, success, observed, failing rows) for each check, validated in one GX run."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    batch_definition = validator.batch_definition()  # GX wants its context active before a suite is made
    suite = gx.ExpectationSuite(name="dagwright-gate")
    for n, check in enumerate(checks):
        for cls_name, kwargs in check.expectations:
            known = set(frame.columns)
            if "column" in kwargs and kwargs["column"] not in known:
                frame = frame.assign(**{kwargs["column"]: None})  # a key no document has: every row fails
            suite.add_expectation(getattr(gxe, cls_name)(**kwargs, meta={"check": n}))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format="BASIC")
    if not result.success:
        result = batch.validate(suite, result_format=_FAILING_ROWS)
    outcome: dict[int, tuple[bool, list[str], set[int]]] = {n: (True, [], set()) for n in range(len(checks))}
    for r in result.results:
        n = int(r.expectation_config.meta["check"])
        ok, notes, rows = outcome[n]
        rows |= {int(i["_row"]) for i in (r.result.get("unexpected_index_list") or []) if isinstance(i, dict)}
        note = _observed(r.result, r.success)
        outcome[n] = (ok and bool(r.success), notes if note in notes else [*notes, note], rows)
    return [
        Outcome(checks[n], ok, "; ".join(notes) + _where(frame, rows), rows) for n, (ok, notes, rows) in outcome.items()
    ]


def _where(frame: Any, rows: set[int]) -> str:
    """Which items failed, by source (or id), so the report points at files rather than row numbers."""
    if not rows:
        return ""
    if "where" in frame.columns and frame["where"].iloc[0]:  # a Checkable value that says what it is
        return f" at {frame['where'].iloc[0]}"
    column = "meta.source" if "meta.source" in frame.columns else "id" if "id" in frame.columns else "_row"
    names = [str(v) for v in frame.loc[frame["_row"].isin(sorted(rows)[:3]), column]]
    return f" at {', '.join(names)}{' ...' if len(rows) > 3 else ''}"


def _observed(result: Mapping[str, Any], success: bool) -> str:
    if "observed_value" in result:
        return f"observed {result['observed_value']}"
    count, total = result.get("unexpected_count", 0), result.get("element_count", 0)
    sample = [str(v)[:80] for v in (result.get("partial_unexpected_list") or [])[:3]]
    text = f"{count} of {total} rows unexpected"
    return text + (f", e.g. {sample}" if sample and not success else "")


def apply_gate(
    stage: Any, direction: str, values: dict[str, Any], quarantine_dir: Path, validator: GxValidator
) -> tuple[dict[str, Any], GateReport]:
    """Check ``values`` (a stage's inputs or outputs); return the values that go on, and the report."""
    report = GateReport(stage.id, load_seconds=validator.load())
    on_fail = stage.policies.on_fail or "stop"
    by_port: dict[str, list[Check]] = {}
    for check in stage.checks:
        if check.direction == direction and check.port in values:
            by_port.setdefault(check.port, []).append(check)
    for port, checks in by_port.items():
        kind = port_kind(getattr(stage.ports, direction)[port].type) or "table"
        outcomes = validate_port(validator, checks, to_frame(kind, values[port]))
        values = _act(stage, direction, port, kind, values, outcomes, on_fail, quarantine_dir, report)
    return values, report


def _action(on_fail: str, failed: list[Outcome]) -> str:
    if not failed:
        return "passed"
    if on_fail == "quarantine" and all(o.check.row_level for o in failed):
        return "quarantined"
    # A check on the whole value (count, sources_present) cannot be split into good and bad rows: it stops.
    return "warned" if on_fail == "warn" else "stopped"


def _act(
    stage: Any, direction: str, port: str, kind: str, values: dict[str, Any], outcomes: list[Outcome],
    on_fail: str, quarantine_dir: Path, report: GateReport,
) -> dict[str, Any]:  # fmt: skip
    failed = [o for o in outcomes if not o.ok]
    action = _action(on_fail, failed)
    for o in outcomes:
        result = CheckResult(
            direction, port, o.check.label, o.ok, o.observed, len(o.rows), "passed" if o.ok else action
        )
        report.results.append(result)
    if action == "stopped":
        raise GateFailed(stage.id, report.failed, report)
    if action != "quarantined":
        return values
    bad = set().union(*(o.rows for o in failed))
    reasons = {i: [o.check.label for o in failed if i in o.rows] for i in bad}
    path = _quarantine(quarantine_dir, f"{stage.id}.{direction}.{port}", kind, values[port], reasons)
    report.quarantined[port] = str(path)
    return {**values, port: without_rows(kind, values[port], bad)}


def _quarantine(folder: Path, name: str, kind: str, value: Any, reasons: dict[int, list[str]]) -> Path:
    """Append the failing rows, each with the checks it failed, to ``folder/name.jsonl``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.jsonl"
    with path.open("a", encoding="utf-8") as out:
        for i, row in zip(sorted(reasons), rows_of(kind, value, set(reasons)), strict=True):
            out.write(json.dumps({"row": i, "reasons": reasons[i], "item": _jsonable(row)}, default=str) + "\n")
    return path


def _jsonable(item: Any) -> Any:
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return {f.name: getattr(item, f.name) for f in dataclasses.fields(item) if f.name != "embedding"}
    return item
