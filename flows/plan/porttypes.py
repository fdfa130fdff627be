"""Whether a value of one port type may flow into a port of another, and how to name types in messages."""

from __future__ import annotations

import types
import typing
from typing import Any

_UNIONS = (typing.Union, types.UnionType)
_NUMERIC_WIDENING = {(int, float), (bool, int), (bool, float)}


def compatible(src: Any, dst: Any) -> bool:
    """True when every value of type ``src`` is acceptable where ``dst`` is expected."""
    if src is dst or dst in (Any, object) or src is Any:
        return True
    if typing.get_origin(dst) in _UNIONS:
        return any(compatible(src, member) for member in typing.get_args(dst))
    if typing.get_origin(src) in _UNIONS:
        return all(compatible(member, dst) for member in typing.get_args(src))
    return _compatible_generic(src, dst)


def _compatible_generic(src: Any, dst: Any) -> bool:
    src_origin, dst_origin = typing.get_origin(src) or src, typing.get_origin(dst) or dst
    if not (isinstance(src_origin, type) and isinstance(dst_origin, type)):
        return src == dst
    if not (issubclass(src_origin, dst_origin) or (src_origin, dst_origin) in _NUMERIC_WIDENING):
        return False
    dst_args, src_args = typing.get_args(dst), typing.get_args(src)
    if not dst_args or not src_args:  # a bare `list` accepts any list, and gives one of unknown items
        return True
    if dst_origin is tuple or src_origin is tuple or len(src_args) != len(dst_args):
        return src_args == dst_args
    # Mutable containers are invariant in principle; covariance is accepted as stages must not mutate inputs.
    return all(compatible(s, d) for s, d in zip(src_args, dst_args, strict=True))


def type_name(t: Any) -> str:
    if t is Any:
        return "Any"
    if t is type(None):
        return "None"
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in _UNIONS:
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        base = getattr(origin, "__name__", str(origin))
        return f"{base}[{', '.join(type_name(a) for a in args)}]" if args else base
    return getattr(t, "__name__", str(t))
