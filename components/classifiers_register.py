"""What every classifier trainer shares after its fit: the report of a training run, and the registration of its
ONNX model in MLflow (params, metrics, signature, input example and pip requirements on one run; a new version
with the alias `challenger`, the first one also `champion`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from components.base import Presentable
from components.registry import CHALLENGER, CHAMPION, MlflowRegistry

ONNX_LIBRARIES = ("onnxruntime", "onnx")


@dataclass(frozen=True)
class TrainReport(Presentable):
    """What a training run measured on the held-out set, and the version it registered."""

    model_name: str
    version: str
    aliases: list[str]
    accuracy: float
    macro_f1: float
    baseline_accuracy: float
    train_rows: int
    test_rows: int
    params: dict[str, Any] = field(default_factory=dict)
    parity: float = 1.0  # share of held-out predictions on which ONNX and scikit-learn agree
    run_id: str = ""
    seconds: float = 0.0
    log_seconds: float = 0.0  # MLflow's log_model + registration alone
    baseline: str = "TF-IDF + LR"  # what the baseline is, for the reader
    roc_auc: float | None = None  # two-class models: of the positive label's probability
    baseline_roc_auc: float | None = None

    def present(self) -> str:
        auc = f", ROC AUC {self.roc_auc:.4f} (baseline {self.baseline_roc_auc:.4f})" if self.roc_auc is not None else ""
        return (
            f"{self.model_name} v{self.version} ({', '.join(self.aliases)}): held-out accuracy {self.accuracy:.4f} "
            f"(baseline {self.baseline} {self.baseline_accuracy:.4f}, {self.accuracy - self.baseline_accuracy:+.4f}), "
            f"macro-F1 {self.macro_f1:.4f}{auc}; {self.train_rows} train / {self.test_rows} held-out rows; "
            f"ONNX agrees on {self.parity:.1%}"
        )

    def as_markdown(self) -> str:
        return f"**{self.present()}**"

    def as_table(self) -> list[dict[str, Any]]:
        rows = [
            ("model", f"{self.model_name} v{self.version}"),
            ("aliases", ", ".join(self.aliases)),
            ("held-out accuracy", round(self.accuracy, 4)),
            ("macro-F1", round(self.macro_f1, 4)),
            *([("ROC AUC (baseline)", f"{self.roc_auc:.4f} ({self.baseline_roc_auc:.4f})")] if self.roc_auc else []),
            (f"baseline accuracy ({self.baseline})", round(self.baseline_accuracy, 4)),
            ("lift over baseline", round(self.accuracy - self.baseline_accuracy, 4)),
            ("train / held-out rows", f"{self.train_rows} / {self.test_rows}"),
            ("ONNX = scikit-learn", f"{self.parity:.1%}"),
            ("MLflow run", self.run_id),
            ("seconds (of which MLflow log_model)", f"{self.seconds:.2f} ({self.log_seconds:.2f})"),
        ]
        return [{"metric": k, "value": v} for k, v in rows]


@dataclass
class Candidate:
    """A fitted model ready to register: its ONNX form and what was measured on the held-out set."""

    onnx: Any
    params: dict[str, Any]
    metrics: dict[str, float]  # accuracy, macro_f1, baseline_accuracy (roc_auc, baseline_roc_auc: two classes)
    parity: float
    example: Any  # a DataFrame of two input rows: MLflow's input example and the signature's input
    example_labels: Any  # the model's labels of those rows: the signature's output
    train_rows: int
    test_rows: int
    baseline: str


def register(registry: MlflowRegistry, model_name: str, candidate: Candidate, started: float) -> TrainReport:
    """Log params, metrics, signature and input example; register a version as `challenger` (the first one also
    `champion`)."""
    from mlflow.models import infer_signature

    first = not registry.aliases(model_name)
    client = registry.client
    run_id = client.create_run(registry.experiment_id(model_name), run_name=f"train {model_name}").info.run_id
    for key, value in candidate.params.items():
        client.log_param(run_id, key, value)
    for key, value in {**candidate.metrics, "onnx_parity": candidate.parity}.items():
        client.log_metric(run_id, key, value)
    logging = time.perf_counter()
    version = registry.log_model(
        run_id,
        candidate.onnx,
        model_name,
        signature=infer_signature(candidate.example, candidate.example_labels),
        input_example=candidate.example,
        pip_requirements=requirements(),  # inferring them runs a subprocess: 12-27 s (STACK.md)
    )
    log_seconds = round(time.perf_counter() - logging, 3)
    client.set_terminated(run_id)
    aliases = [CHALLENGER, CHAMPION] if first else [CHALLENGER]
    for alias in aliases:
        registry.set_alias(model_name, alias, version)
    m = candidate.metrics
    return TrainReport(
        model_name, version, aliases, m["accuracy"], m["macro_f1"], m["baseline_accuracy"],
        candidate.train_rows, candidate.test_rows, candidate.params, candidate.parity, run_id,
        round(time.perf_counter() - started, 3), log_seconds, candidate.baseline, m.get("roc_auc"),
        m.get("baseline_roc_auc"),
    )  # fmt: skip


def requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ONNX_LIBRARIES]
