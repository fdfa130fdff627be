"""A data-only encoding of stage outputs for the result cache: JSON, with numpy arrays as `.npy` bytes.

Reading an entry never runs code from it, unlike pickle: a planted entry can at worst hold wrong data, and only
under a key that someone could compute. Covered: None, bool, int, float, str, bytes, lists, tuples, dicts (any
keys of these types), numpy arrays (not of Python objects) and scalars, pandas DataFrames whose columns are such
arrays or lists of these values, and dataclasses (Documents, answers, reports) whose class is already imported.
Anything else raises ``Unencodable`` and the stage is simply not cached.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import sys
from typing import Any


class Unencodable(TypeError):
    """A value the cache format cannot hold; its stage stays uncached."""


class Undecodable(ValueError):
    """An entry that is not a valid encoding (truncated, planted, or from another format); read as a miss."""


def dumps(value: Any) -> bytes:
    return json.dumps(_encode(value), separators=(",", ":"), allow_nan=True).encode()


def loads(data: bytes) -> Any:
    try:
        return _decode(json.loads(data))
    except Undecodable:
        raise
    except Exception as exc:  # malformed JSON, wrong shapes: never trust an entry's layout
        raise Undecodable(f"{type(exc).__name__}: {exc}") from None


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if type(value) in (int, float):  # not an IntEnum or a numpy float64, which would not come back as such
        return value
    if isinstance(value, bytes):
        return {"$": "b", "v": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return {"$": "t", "v": [_encode(v) for v in value]}
    if isinstance(value, dict) and type(value) is dict:
        return {"$": "d", "k": [_encode(k) for k in value], "v": [_encode(v) for v in value.values()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$": "o", "c": f"{cls.__module__}:{cls.__qualname__}", "v": fields}
    module = type(value).__module__.split(".")[0]
    if module == "numpy":
        return _encode_numpy(value)
    if module == "pandas" and type(value).__name__ == "DataFrame":
        return _encode_frame(value)
    raise Unencodable(f"the result cache cannot hold a {type(value).__module__}.{type(value).__qualname__}")


def _encode_numpy(value: Any) -> Any:
    import numpy as np

    array = np.asarray(value)
    if array.dtype.hasobject:
        raise Unencodable("the result cache cannot hold a numpy array of Python objects")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    kind = "a" if isinstance(value, np.ndarray) else "s"
    return {"$": kind, "v": base64.b64encode(buffer.getvalue()).decode()}


def _encode_frame(frame: Any) -> Any:
    columns = []
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind in "biufcmM":
            columns.append(_encode_numpy(column.to_numpy()))
        elif column.dtype == object:
            columns.append([_encode(v) for v in column.tolist()])
        else:  # categoricals, extension dtypes: not worth a wrong round trip
            raise Unencodable(f"the result cache cannot hold a DataFrame column of dtype {column.dtype}")
    return {
        "$": "p",
        "n": [_encode(n) for n in frame.columns],
        "c": columns,
        "i": _encode(frame.index.tolist()),
    }


def _decode(node: Any) -> Any:
    if isinstance(node, list):
        return [_decode(v) for v in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("$")
    if kind == "t":
        return tuple(_decode(v) for v in node["v"])
    if kind == "d":
        return {_hashable(_decode(k)): _decode(v) for k, v in zip(node["k"], node["v"], strict=True)}
    if kind == "b":
        return base64.b64decode(node["v"], validate=True)
    if kind in ("a", "s"):
        return _decode_numpy(node)
    if kind == "o":
        return _decode_dataclass(node)
    if kind == "p":
        return _decode_frame(node)
    raise Undecodable(f"unknown node kind {kind!r}")


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


def _decode_numpy(node: dict[str, Any]) -> Any:
    import numpy as np

    array = np.load(io.BytesIO(base64.b64decode(node["v"], validate=True)), allow_pickle=False)
    return array if node["$"] == "a" else array[()]


def _decode_dataclass(node: dict[str, Any]) -> Any:
    """A dataclass instance, built without calling its ``__init__``: only a class already imported in this process
    (never importing a module an entry names) and only if it is a dataclass with exactly these fields."""
    module_name, _, qualname = str(node["c"]).partition(":")
    cls: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        cls = getattr(cls, part, None)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise Undecodable(f"no imported dataclass {node['c']}")
    names = {f.name for f in dataclasses.fields(cls)}
    if set(node["v"]) != names:
        raise Undecodable(f"{node['c']} has fields {sorted(names)}, the entry {sorted(node['v'])}")
    instance = object.__new__(cls)
    for name, value in node["v"].items():
        object.__setattr__(instance, name, _decode(value))
    return instance


def _decode_frame(node: dict[str, Any]) -> Any:
    import numpy as np
    import pandas as pd

    columns = {}
    for i, column in enumerate(node["c"]):
        columns[i] = _decode(column) if isinstance(column, dict) else np.array(_decode(column), dtype=object)
    frame = pd.DataFrame(columns, index=_decode(node["i"]))
    frame.columns = [_hashable(_decode(n)) for n in node["n"]]
    return frame
