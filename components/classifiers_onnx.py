"""`classifier.onnx`: classifies a text with a registered ONNX model version, chosen per routing key between the
`champion` and `challenger` aliases by configured weights, and records each prediction in the prediction log.

Routing is a hash of the model name and the key mapped onto [0, 1) and cut by the weights, so one key always sees
one alias (sticky, across processes and restarts) and the share of keys per alias converges to its weight.
Aliases are looked up in the registry at most every `refresh_seconds`; when one moved, the new version's session
is loaded (one cached onnxruntime session per version), so a promotion reaches a running server without a restart.
A request carries a `text` (a text model) or `entities` (a tabular model: one entity's join keys, whose online
features are fetched from a `feast.store` in the model's feature order; components/classifiers_online.py). The
routing key defaults to the entity's first join key value (a flight is served by one version however often asked).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import Field, field_validator

from components.base import Component, ComponentParams, InputError, Presentable
from components.classifiers_online import check_served, online_row
from components.classifiers_runtime import FEATURES_INPUT, TEXT_INPUT, input_name, metadata, onnx_predict, onnx_session
from components.features.store import FeastStore
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
    features: dict[str, float | None] = field(default_factory=dict)  # what a tabular model was fed (null: NaN)

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
    store: Annotated[str | None, Uses(FeastStore)] = Field(
        None, description="The `feast.store` resource that serves a tabular model's features (requests by entities)."
    )
    service: str | None = Field(
        None, description="The feature service to fetch; default: the one the model was trained on (its metadata)."
    )

    @field_validator("weights")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError("give each alias a weight >= 0, at least one above 0")
        return {a: w for a, w in value.items() if w > 0}


class ClassifyInputError(InputError, ValueError):
    """A request the model cannot answer: neither or both of text and entities, or the wrong one for the model."""


class OnnxClassifier(Component[ClassifyParams]):
    """Classifies a text, or an entity by its online features, with the champion or the challenger (sticky per
    key), recording the prediction.

    Example:

    ```yaml
    uses: classifier.onnx
    with: {registry: models, predictions: predictions, model_name: doc-classifier,
           weights: {champion: 0.9, challenger: 0.1}}
    inputs: {text: "${params.text}", key: "${params.key}"}
    ```

    By entity ids (the flight-delay model; the key defaults to the flight_id):

    ```yaml
    uses: classifier.onnx
    with: {registry: models, predictions: predictions, model_name: flight-delay, store: features}
    inputs: {entities: "${params.entities}", key: "${params.key}"}
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
        self._checked: set[tuple[str, str]] = set()  # (version, service) whose features the service serves

    def run(self, text: str | None = None, key: str = "", entities: dict[str, Any] | None = None) -> Prediction:
        p = self.params
        if (text is None) == (entities is None):
            raise ClassifyInputError(f"{self.name}: give a text or entities (join key -> value), one of the two")
        key = key or (str(next(iter(entities.values()))) if entities else "")
        if not key:
            raise ClassifyInputError(f"{self.name}: give a routing key, or entities to take it from")
        alias = route(p.model_name, key, p.weights)
        version, session = self.model(alias)
        fed: dict[str, float | None] = {}
        if entities is not None:
            fed = self.features(version, session, entities)
            rows: Any = [[float("nan") if v is None else v for v in fed.values()]]
        else:
            rows = [self._text(version, session, text)]
        labels, confidence = onnx_predict(session, rows)
        found = Prediction(str(labels[0]), round(float(confidence[0]), 6), version, alias, key, fed)
        log = self.resources.get(p.predictions, PredictionLog)
        log.record(p.model_name, version, alias, key, found.prediction, found.confidence)
        return found

    def _text(self, version: str, session: Any, text: str | None) -> str:
        if input_name(session) != TEXT_INPUT:
            raise ClassifyInputError(
                f"{self.name}: {self.params.model_name} v{version} classifies entities by their features, not "
                "texts: give entities (join key -> value)"
            )
        return str(text)

    def features(self, version: str, session: Any, entities: dict[str, Any]) -> dict[str, float | None]:
        """Feature name -> the online value fed to the model (None: missing), in the model's order."""
        p, where = self.params, f"{self.name} ({self.params.model_name} v{version})"
        meta = metadata(session)
        if input_name(session) != FEATURES_INPUT or "feature_names" not in meta:
            raise ClassifyInputError(f"{where}: the model classifies texts, not entities: give a text")
        if p.store is None:
            raise ClassifyInputError(f"{where}: set `store` (a feast.store resource) to classify entities")
        store = self.resources.get(p.store, FeastStore)
        service, names = p.service or meta["feature_service"], meta["feature_names"]
        if (version, service) not in self._checked:  # once per version and service: a registry read
            check_served(store, where, service, names)
            self._checked.add((version, service))
        values = online_row(store, where, service, entities, names)
        return {n: None if v != v else v for n, v in zip(names, values, strict=True)}

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
