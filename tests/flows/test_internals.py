"""Hashing, port types, YAML positions and references: the small pieces the engine's guarantees rest on."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from components.documents import Document
from flows.errors import ParamError
from flows.execute.hashing import Unhashable, content_hash
from flows.execute.runtime import count_rows
from flows.language.params import coerce
from flows.language.refs import EnvRef, MissingEnv, ParamRef, RefError, StageRef, parse_input, resolve
from flows.language.spec import Param, parse_duration
from flows.language.yamlpos import load_yaml
from flows.plan.porttypes import compatible, type_name
from tests.conftest import REPO


def test_content_hash_is_stable_across_processes() -> None:
    value = "[Document.from_source('a.md', 'hello', title='A'), {'k': (1, 2.5, None)}, {3, 1}]"
    probe = (
        "from components.documents import Document\nfrom flows.execute.hashing import content_hash\n"
        f"print(content_hash({value}))"
    )
    runs = {
        subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(runs) == 1
    assert runs.pop().strip() == content_hash(eval(value))


def test_content_hash_ignores_mapping_order_but_not_list_order() -> None:
    assert content_hash({"a": 1, "b": 2}) == content_hash({"b": 2, "a": 1})
    assert content_hash([1, 2]) != content_hash([2, 1])


def test_content_hash_tells_types_apart() -> None:
    assert len({content_hash(v) for v in (1, 1.0, "1", True, b"1", [1], (1,), None)}) == 7  # list == tuple


def test_content_hash_sees_dataclass_content() -> None:
    a, b = Document("x", "text", {"source": "a"}), Document("x", "text", {"source": "b"})
    assert content_hash(a) != content_hash(b)
    assert content_hash(a) == content_hash(Document("x", "text", {"source": "a"}))


def test_numpy_and_pandas_hash_by_content() -> None:
    import numpy as np
    import pandas as pd

    assert content_hash(np.arange(4)) == content_hash(np.arange(4))
    assert content_hash(np.arange(4)) != content_hash(np.arange(4).astype("float32"))
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert content_hash(frame) == content_hash(frame.copy())
    assert content_hash(frame) != content_hash(frame.assign(b=["x", "z"]))


def test_unhashable_values_are_refused_rather_than_guessed() -> None:
    with pytest.raises(Unhashable):
        content_hash(object())


@dataclass
class Box:
    value: int


@pytest.mark.parametrize(
    ("src", "dst", "ok"),
    [
        (list[int], list[int], True),
        (list[int], list, True),
        (list, list[int], True),
        (list[int], list[float], True),
        (list[int], list[str], False),
        (list[Document], list[Document], True),
        (list[int], list[Document], False),
        (int, float, True),
        (float, int, False),
        (int, int | None, True),
        (int | None, int, False),
        (Box, Any, True),
        (Any, Box, True),
        (dict[str, int], dict[str, Any], True),
        (dict[str, int], list[int], False),
        (tuple[int, str], tuple[int, str], True),
        (tuple[int, str], tuple[str, int], False),
        (list[tuple[str, int]], list[tuple[str, int]], True),
    ],
)
def test_port_compatibility(src: Any, dst: Any, ok: bool) -> None:
    assert compatible(src, dst) is ok


def test_type_names_read_like_annotations() -> None:
    assert type_name(list[Document]) == "list[Document]"
    assert type_name(dict[str, int | None]) == "dict[str, int | None]"


def test_yaml_positions_and_duplicates() -> None:
    loaded = load_yaml("a:\n  b: 1\n  c: [x, y]\n  b: 2\n")
    assert loaded.data == {"a": {"b": 1, "c": ["x", "y"]}}
    assert loaded.positions.values[("a", "c", 1)] == (3, 10)
    assert loaded.positions.keys[("a", "c")] == (3, 3)
    assert [(d.path, d.line, d.first_line) for d in loaded.duplicates] == [(("a", "b"), 4, 2)]


def test_yaml_merge_keys_prefer_explicit_values() -> None:
    loaded = load_yaml("base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n")
    assert loaded.data["item"] == {"x": 1, "y": 3}


def test_input_references() -> None:
    assert parse_input("chunk.chunks") == StageRef("chunk", "chunks")
    assert parse_input("${params.top_k}") == ParamRef("top_k")
    for bad in ("chunk", "a.b.c", "${env:X}", "${params.}"):
        with pytest.raises(RefError):
            parse_input(bad)


def test_resolve_keeps_types_of_lone_placeholders_and_interpolates_others() -> None:
    params = {"k": 5, "dir": "docs"}
    env = {"TOKEN": "t"}
    assert resolve({"a": "${params.k}", "b": "${params.dir}/x", "c": ["${env:TOKEN}"]}, params, env) == {
        "a": 5,
        "b": "docs/x",
        "c": ["t"],
    }
    with pytest.raises(MissingEnv):
        resolve("${env:ABSENT}", params, env)
    assert EnvRef("X") != ParamRef("X")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(5, 5.0), ("250ms", 0.25), ("30s", 30), ("2m", 120), ("1h", 3600), ("1d", 86400), ("1.5", 1.5)],
)
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        (Param(type="integer", minimum=1), 0, "0 is below the minimum 1"),
        (Param(type="integer", maximum=10), 50, "50 is above the maximum 10"),
        (Param(type="number", minimum=0.5), 0.25, "0.25 is below the minimum 0.5"),
    ],
)
def test_a_bound_is_shown_in_the_param_type(param: Param, value: Any, message: str) -> None:
    with pytest.raises(ParamError) as caught:
        coerce("p", "n", param, value)
    assert str(caught.value) == f"pipeline 'p', param 'n': {message}"


@pytest.mark.parametrize(
    ("value", "rows"),
    [
        ([0.1, -0.2, 0.3], None),  # an embedding: one value, not three rows
        ((1, 2), None),
        ([Document("a", "x"), Document("b", "y")], 2),
        ([{"id": 1}, {"id": 2}, {"id": 3}], 3),
        ([[0.1, 0.2], [0.3, 0.4]], 2),  # a batch of vectors: one row each
        ([], 0),
        ("text", None),
        ({"a": 1}, None),
        (7, None),
    ],
)
def test_count_rows_counts_records_not_the_numbers_of_a_vector(value: Any, rows: int | None) -> None:
    assert count_rows(value) == rows


def test_count_rows_of_arrays_and_frames() -> None:
    import numpy as np
    import pandas as pd

    assert count_rows(np.zeros(384, dtype="float32")) is None
    assert count_rows(np.zeros((5, 384))) == 5
    assert count_rows(pd.DataFrame({"a": [1, 2, 3]})) == 3


def _validation_error() -> Exception:
    from pydantic import BaseModel, Field, ValidationError

    class Limits(BaseModel):
        top_k: int = Field(le=20)

    try:
        Limits(top_k=50)
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


def test_only_failures_that_could_pass_next_time_are_retried() -> None:
    from components.loaders import LoaderError
    from components.models import ModelFileError
    from components.prompts import PromptError
    from flows.execute.runtime import is_retryable
    from flows.plan.stageparams import StageParamsError

    deterministic = [
        LoaderError("folder 'x' does not exist"),  # missing input
        StageParamsError("environment variable X is not set"),  # configuration
        PromptError("no prompt 'rag-answer'"),  # configuration
        ModelFileError("model.onnx is missing from package 'x'"),  # installation
        ParamError("top_k: 50 is above the maximum 20"),
        _validation_error(),  # validation
    ]
    assert [type(e).__name__ for e in deterministic if is_retryable(e)] == []
    assert is_retryable(ConnectionError("reset by peer")) and is_retryable(KeyError("source"))
