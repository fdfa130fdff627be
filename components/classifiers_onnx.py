"""`classifier.onnx`: classifies a text with a registered ONNX model version, chosen per routing key between the
`champion` and `challenger` aliases by configured weights, and records each prediction in the prediction log.

Routing is a hash of the model name and the key mapped onto [0, 1) and cut by the weights, so one key always sees
one alias (sticky, across processes and restarts) and the share of keys per alias converges to its weight.
Aliases are looked up in the registry at most every `refresh_seconds`; when one moved, the new version's session
is loaded (one cached onnxruntime session per version), so a promotion reaches a running server without a restart.
Entity ids with Feast online features come later (issue 11's flight-delay classifier); this takes raw text.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, field_validator

from components.base import Component, ComponentParams, Presentable
from components.classifiers_train import onnx_predict, onnx_session
from components.registry import CHALLENGER, CHAMPION, MlflowRegistry
from components.registry_predictions import PredictionLog
from components.resources import Uses


@dataclass(frozen=True)
class Prediction(Presentable):
    prediction: str
    confidence: float
    model_version: str
    alias: str
    key: str

    def present(self) -> str:
        return f"{self.prediction} ({self.confidence:.3f}) by v{self.model_version} ({self.alias}) for key {self.key!r}"

    def as_markdown(self) -> str:
        return f"**{self.prediction}** ({self.confidence:.3f}), model version {self.model_version} ({self.alias})"


def route(model_name: str, key: str, weights: dict[str, float]) -> str:
    """The alias that serves ``key``: a stable hash of (model, key) in [0, 1), cut by the weights in order."""
    digest = hashlib.sha256(f"{model_name}\x00{key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(weights.values())
    for alias, weight in weights.items():
        if point < weight:
            return alias
        point -= weight
    return next(reversed(weights))  # float rounding at the very top of the range


class ClassifyParams(ComponentParams):
    registry: Annotated[str, Uses(MlflowRegistry)] = Field("models", description="The `mlflow.registry` resource.")
    predictions: Annotated[str, Uses(PredictionLog)] = Field(
        "predictions", description="The `predictions.log` resource each prediction is recorded in."
    )
    model_name: str = Field("doc-classifier", min_length=1, description="The registered model's name.")
    weights: dict[str, float] = Field(
        {CHAMPION: 0.9, CHALLENGER: 0.1}, description="Alias -> share of routing keys it serves."
    )
    refresh_seconds: float = Field(5.0, ge=0, description="How often aliases are looked up again (0: every call).")

    @field_validator("weights")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("give each alias a weight >= 0, at least one above 0")
        return {a: w for a, w in value.items() if w > 0}


class OnnxClassifier(Component[ClassifyParams]):
    """Classifies a text with the champion or the challenger (sticky per key), recording the prediction.

    Example:

    ```yaml
    uses: classifier.onnx
    with: {registry: models, predictions: predictions, model_name: doc-classifier,
           weights: {champion: 0.9, challenger: 0.1}}
    inputs: {text: "${params.text}", key: "${params.key}"}
    ```
    """

    name = "classifier.onnx"
    cacheable = False  # each call is recorded, and aliases move
    libraries = ("onnxruntime",)

    def warm_up(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Any] = {}  # version -> its onnxruntime session
        self._aliases: dict[str, str] = {}
        self._looked_up = float("-inf")

    def run(self, text: str, key: str) -> Prediction:
        p = self.params
        alias = route(p.model_name, key, p.weights)
        version, session = self.model(alias)
        labels, confidence = onnx_predict(session, [text])
        found = Prediction(str(labels[0]), round(float(confidence[0]), 6), version, alias, key)
        log = self.resources.get(p.predictions, PredictionLog)
        log.record(p.model_name, version, alias, key, found.prediction, found.confidence)
        return found

    def model(self, alias: str) -> tuple[str, Any]:
        """The version ``alias`` points to now and its session (loaded once per version)."""
        registry = self.resources.get(self.params.registry, MlflowRegistry)
        with self._lock:
            if time.monotonic() - self._looked_up >= self.params.refresh_seconds or alias not in self._aliases:
                self._aliases = registry.aliases(self.params.model_name)
                self._looked_up = time.monotonic()
            version = self._aliases.get(alias) or registry.alias_version(self.params.model_name, alias)
            if version not in self._sessions:
                self._sessions[version] = onnx_session(registry.onnx_bytes(self.params.model_name, version))
            return version, self._sessions[version]

    def close(self) -> None:
        self._sessions = {}
