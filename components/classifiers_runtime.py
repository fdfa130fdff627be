"""What every ONNX classifier of dagwright shares at run time: one contract, two input kinds.

The contract (both trainers write it; `classifier.onnx` and `classifier.promote` read it):
- input `text` (string [N, 1]) for the document classifier, or `features` (float [N, F]) for a tabular one;
- outputs `label` (string [N]) and `confidence` ([N], the predicted label's probability);
- a tabular model names its inputs in its metadata_props: `feature_names` (JSON list, the column order of
  `features`), `feature_service` (the Feast service that serves them), `label_column` and `label_values` (JSON:
  the training set's 0/1 label value -> the predicted label), so a served or compared model needs no other config.
"""

from __future__ import annotations

import json
from typing import Any

from components.base import PermanentError

TEXT_INPUT, FEATURES_INPUT = "text", "features"


class ParityError(PermanentError, RuntimeError):
    """The ONNX model does not predict what the scikit-learn model predicts; nothing was registered."""


def onnx_session(model_bytes: bytes) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # its warnings about unused initializers are noise
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def input_name(session: Any) -> str:
    return str(session.get_inputs()[0].name)


def onnx_predict(session: Any, rows: Any) -> tuple[Any, Any]:
    """(labels, confidences) of ``rows``: texts for a `text` model, a float matrix [N, F] for a `features` one."""
    import numpy as np

    name = input_name(session)
    text = name == TEXT_INPUT
    feed = np.asarray(rows, dtype=object).reshape(-1, 1) if text else np.asarray(rows, dtype=np.float32)
    labels, confidence = session.run(["label", "confidence"], {name: feed})
    return labels, confidence


def metadata(session: Any) -> dict[str, Any]:
    """A tabular model's metadata_props, JSON values decoded; empty for a text model."""
    props = session.get_modelmeta().custom_metadata_map
    return {k: json.loads(v) if k in ("feature_names", "label_values") else v for k, v in props.items()}


def with_metadata(model: Any, values: dict[str, Any]) -> Any:
    for key, value in values.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    return model


def with_confidence(model: Any) -> Any:
    """Replace the [N, classes] `probabilities` output by `confidence` [N] (the predicted label's probability):
    one value per row, so MLflow's pyfunc can return them as a DataFrame (it flattens every output, and [N,
    classes] probabilities would not fit beside [N] labels)."""
    from onnx import TensorProto, helper

    graph = model.graph
    probabilities = next(o for o in graph.output if o.name == "probabilities")
    graph.node.append(helper.make_node("ReduceMax", ["probabilities"], ["confidence"], axes=[1], keepdims=0))
    graph.output.remove(probabilities)
    graph.output.append(helper.make_tensor_value_info("confidence", TensorProto.FLOAT, [None]))
    return model


def parity(model: Any, session: Any, rows: Any) -> float:
    """The share of ``rows`` on which ONNX and scikit-learn predict the same label and confidence (within 1e-4)."""
    import numpy as np

    labels, confidence = onnx_predict(session, rows)
    same = (labels == model.predict(rows)) & (np.abs(confidence - model.predict_proba(rows).max(axis=1)) < 1e-4)
    return float(same.mean())


def gate_parity(agreement: float, min_parity: float) -> None:
    if agreement < min_parity:
        raise ParityError(
            f"ONNX and scikit-learn agree on {agreement:.2%} of the held-out set, below min_parity "
            f"{min_parity:.2%}; nothing was registered"
        )
