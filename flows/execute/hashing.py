"""Stable content hashes of stage inputs and params, for cache keys that survive restarts and new processes.

Prefect's default cache keys hash cloudpickle output, which changes between processes (PrefectHQ/prefect#12229)
and may even hash what it cannot really hash (#15861). Here every supported type is fed in a canonical form,
and a value we cannot hash makes the stage uncacheable instead of giving a wrong hit.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import struct
from enum import Enum
from pathlib import PurePath
from typing import Any


class Unhashable(TypeError):
    """A value has no canonical form, so a stage that receives it is not cached."""


def content_hash(value: Any) -> str:
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def _tag(h: Any, tag: bytes, payload: bytes = b"") -> None:
    h.update(tag + struct.pack(">Q", len(payload)) + payload)


def _feed(h: Any, value: Any) -> None:  # noqa: C901 - one branch per supported type reads best as one table
    if value is None or isinstance(value, bool):
        _tag(h, b"c", repr(value).encode())
    elif isinstance(value, int | float):
        _tag(h, b"n", repr(value).encode())
    elif isinstance(value, str):
        _tag(h, b"s", value.encode())
    elif isinstance(value, bytes | bytearray):
        _tag(h, b"b", bytes(value))
    elif isinstance(value, list | tuple):
        _tag(h, b"l", str(len(value)).encode())
        for item in value:
            _feed(h, item)
    elif isinstance(value, dict):
        _feed_items(h, b"d", value.items())
    elif isinstance(value, set | frozenset):
        _tag(h, b"e", "".join(sorted(content_hash(v) for v in value)).encode())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        _feed_object(h, value, {f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    elif hasattr(value, "model_dump") and hasattr(type(value), "model_fields"):
        _feed_object(h, value, {name: getattr(value, name) for name in type(value).model_fields})
    elif isinstance(value, Enum | PurePath | datetime.date | datetime.time | datetime.timedelta):
        _tag(h, b"v", f"{type(value).__qualname__}:{value}".encode())
    else:
        _feed_array_like(h, value)


def _feed_items(h: Any, tag: bytes, items: Any) -> None:
    # Order-independent: YAML and JSON mappings carry no meaningful order for caching.
    pairs = sorted((content_hash(k), content_hash(v)) for k, v in items)
    _tag(h, tag, "".join(k + v for k, v in pairs).encode())


def _feed_object(h: Any, value: Any, fields: dict[str, Any]) -> None:
    cls = type(value)
    _tag(h, b"o", f"{cls.__module__}.{cls.__qualname__}".encode())
    _feed_items(h, b"f", fields.items())


def _feed_array_like(h: Any, value: Any) -> None:
    module = type(value).__module__.split(".")[0]
    if module == "numpy" and hasattr(value, "tobytes"):
        _tag(h, b"a", f"{value.dtype.str}{value.shape}".encode() + value.tobytes())
    elif module == "pandas" and hasattr(value, "columns"):
        import pandas as pd

        rows = pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes()
        _tag(h, b"p", repr(list(value.columns)).encode() + repr(list(value.dtypes)).encode() + rows)
    else:
        raise Unhashable(f"cannot hash a {type(value).__module__}.{type(value).__qualname__} for the cache")
