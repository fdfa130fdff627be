"""No-op stage functions for the engine benchmarks: they measure the engine, not the work."""

from __future__ import annotations


def noop(x: int = 0) -> int:
    return x + 1


def first() -> int:
    return 0
