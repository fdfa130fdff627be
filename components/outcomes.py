"""`predictions.outcome`: records the true label of a routing key once it is known (a user's click, a reviewer's
verdict, a flight that landed), joined with the classifier's prediction for that key in the prediction log. The
`*-promote` pipelines count these outcomes per model version (Fisher's exact test in classifier.promote).

An outcome for a key the model never predicted is refused, not stored: a typo in a key or a model name would
otherwise pile up outcomes that never join and silently shrink the evidence the promotion reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from components.base import Component, ComponentParams, InputError, Presentable
from components.registry_predictions import PredictionLog
from components.resources import Uses


class UnknownKeyError(InputError, LookupError):
    """No prediction of the model was recorded for the key; nothing was recorded."""


@dataclass(frozen=True)
class OutcomeRecorded(Presentable):
    model: str
    key: str
    label: str
    predicted: str  # what the model said for the key (its latest prediction)
    model_version: str
    alias: str
    right: bool

    def present(self) -> str:
        verdict = "right" if self.right else "wrong"
        return (
            f"{self.model}: outcome {self.label!r} for key {self.key!r}; v{self.model_version} ({self.alias}) "
            f"predicted {self.predicted!r}: {verdict}"
        )

    def as_markdown(self) -> str:
        return f"**{self.present()}**"


@dataclass(frozen=True)
class Recorded:
    outcome: OutcomeRecorded  # one port (a dataclass output is split into ports by field)


class OutcomeParams(ComponentParams):
    predictions: Annotated[str, Uses(PredictionLog)] = Field(
        "predictions", description="The `predictions.log` resource the classifier records its predictions in."
    )


class RecordOutcome(Component[OutcomeParams]):
    """Records the true label for a routing key that a classifier predicted for, and says whether it was right.

    Example:

    ```yaml
    uses: predictions.outcome
    with: {predictions: predictions}
    inputs: {model: doc-classifier, key: "${params.key}", label: "${params.label}"}
    ```
    """

    name = "predictions.outcome"
    cacheable = False  # it writes a row each time
    writes = True

    def run(self, model: str, key: str, label: str) -> Recorded:
        log = self.resources.get(self.params.predictions, PredictionLog)
        found = log.record_outcome(model, key, label, known_key=True)
        if found is None:
            known = log.keys(model)
            why = f"it has predictions for {known} other key(s)" if known else "it has no recorded predictions"
            raise UnknownKeyError(
                f"model {model!r} never predicted for key {key!r} ({why}); the outcome was not recorded"
            )
        right = found.prediction == label
        return Recorded(OutcomeRecorded(model, key, label, found.prediction, found.version, found.alias, right))
