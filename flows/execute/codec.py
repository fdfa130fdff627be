"""A data-only encoding of stage outputs for the result cache: a JSON tree, then the raw bytes it points into.

Reading an entry never runs code from it, unlike pickle: a planted entry can at worst hold wrong data, and only
under a key that someone could compute. Covered: None, bool, int, float, str, bytes, lists, tuples, dicts (any
keys of these types), numpy arrays (not of Python objects) and scalars, pandas DataFrames whose columns are such
arrays or lists of these values, and dataclasses (Documents, answers, reports) whose class is already imported.
Anything else raises ``Unencodable`` and the stage is simply not cached.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any


class Unencodable(TypeError):
    """A value the cache format cannot hold; its stage stays uncached."""


class Undecodable(ValueError):
    """An entry that is not a valid encoding (truncated, planted, or from another format); read as a miss."""


def dumps(value: Any) -> bytes:
    """One line of JSON (compact JSON has no raw newline), a newline, then the bytes of arrays and bytes values,
    which the JSON names by offset and length: no base64, so an entry is about the size of the data."""
    encoder = _Encoder()
    tree = json.dumps(encoder.encode(value), separators=(",", ":"), allow_nan=True).encode()
    return tree + b"\n" + b"".join(encoder.blobs)


def loads(data: bytes) -> Any:
    tree, newline, blobs = data.partition(b"\n")
    try:
        if not newline:
            raise Undecodable("no end of the JSON part")
        return _Decoder(memoryview(blobs)).decode(json.loads(tree))
    except Undecodable:
        raise
    except Exception as exc:  # malformed JSON, wrong shapes: never trust an entry's layout
        raise Undecodable(f"{type(exc).__name__}: {exc}") from None


class _Encoder:
    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.size = 0

    def blob(self, data: bytes) -> list[int]:
        self.blobs.append(data)
        self.size += len(data)
        return [self.size - len(data), len(data)]

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | str) or type(value) in (int, float):
            return value  # not an IntEnum or a numpy float64, which would not come back as such
        if isinstance(value, bytes):
            return {"$": "b", "at": self.blob(value)}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if type(value) is tuple:
            return {"$": "t", "v": [self.encode(v) for v in value]}
        if type(value) is dict:
            return {"$": "d", "k": [self.encode(k) for k in value], "v": [self.encode(v) for v in value.values()]}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            cls = type(value)
            fields = {f.name: self.encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
            return {"$": "o", "c": f"{cls.__module__}:{cls.__qualname__}", "v": fields}
        module = type(value).__module__.split(".")[0]
        if module == "numpy":
            return self.numpy(value)
        if module == "pandas" and type(value).__name__ == "DataFrame":
            return self.frame(value)
        raise Unencodable(f"the result cache cannot hold a {type(value).__module__}.{type(value).__qualname__}")

    def numpy(self, value: Any) -> Any:
        import numpy as np

        array = np.asarray(value)  # tobytes() is in C order whatever the layout
        if array.dtype.hasobject or array.dtype.fields is not None:
            raise Unencodable(f"the result cache cannot hold a numpy array of dtype {array.dtype}")
        kind = "a" if isinstance(value, np.ndarray) else "s"
        return {"$": kind, "d": array.dtype.str, "s": list(array.shape), "at": self.blob(array.tobytes())}

    def frame(self, frame: Any) -> Any:
        columns = []
        for name in frame.columns:
            column = frame[name]
            if column.dtype.kind in "biufcmM":
                columns.append(self.numpy(column.to_numpy()))
            elif column.dtype == object:
                columns.append([self.encode(v) for v in column.tolist()])
            else:  # categoricals, extension dtypes: not worth a wrong round trip
                raise Unencodable(f"the result cache cannot hold a DataFrame column of dtype {column.dtype}")
        names = [self.encode(n) for n in frame.columns]
        return {"$": "p", "n": names, "c": columns, "i": self.encode(frame.index.tolist())}


class _Decoder:
    def __init__(self, blobs: memoryview) -> None:
        self.blobs = blobs

    def blob(self, at: Any) -> memoryview:
        start, length = (int(x) for x in at)
        if start < 0 or length < 0 or start + length > len(self.blobs):
            raise Undecodable(f"bytes {start}+{length} lie outside the entry")
        return self.blobs[start : start + length]

    def decode(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            return node
        kind = node.get("$")
        if kind == "t":
            return tuple(self.decode(v) for v in node["v"])
        if kind == "d":
            return {_hashable(self.decode(k)): self.decode(v) for k, v in zip(node["k"], node["v"], strict=True)}
        if kind == "b":
            return bytes(self.blob(node["at"]))
        if kind in ("a", "s"):
            return self.numpy(node)
        if kind == "o":
            return self.dataclass(node)
        if kind == "p":
            return self.frame(node)
        raise Undecodable(f"unknown node kind {kind!r}")

    def numpy(self, node: dict[str, Any]) -> Any:
        import numpy as np

        dtype = np.dtype(str(node["d"]))
        if dtype.hasobject or dtype.fields is not None:
            raise Undecodable(f"refused dtype {dtype}")
        shape = tuple(int(n) for n in node["s"])
        array = np.frombuffer(self.blob(node["at"]), dtype=dtype).reshape(shape).copy()  # its own, writable
        return array if node["$"] == "a" else array[()]

    def dataclass(self, node: dict[str, Any]) -> Any:
        """A dataclass instance, built without calling its ``__init__``: only a class already imported in this
        process (never importing a module an entry names) and only if it has exactly these fields."""
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
            object.__setattr__(instance, name, self.decode(value))
        return instance

    def frame(self, node: dict[str, Any]) -> Any:
        import numpy as np
        import pandas as pd

        columns = {}
        for i, column in enumerate(node["c"]):
            columns[i] = (
                self.decode(column) if isinstance(column, dict) else np.array(self.decode(column), dtype=object)
            )
        frame = pd.DataFrame(columns, index=self.decode(node["i"]))
        frame.columns = [_hashable(self.decode(n)) for n in node["n"]]
        return frame


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key
