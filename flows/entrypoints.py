"""Whether any installed distribution declares entry points of a group, without importing importlib.metadata.

`importlib.metadata.entry_points()` parses every distribution's metadata on each call, and importing it pulls in
the email package: with pydantic's plugin lookup (one more full scan) that was ~35 ms of `dagwright validate`'s
~200 ms in process (bench/engine.py, issue 7). Reading the entry_points.txt files of the dist-info and egg-info
folders on sys.path takes ~2 ms. The answer is only ever "maybe" where that scan cannot see (zip files on
sys.path, finders of their own), so callers fall back to importlib.metadata then.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator

_METADATA_DIRS = (".dist-info", ".egg-info")


def may_declare(group: str) -> bool:
    """False only when no distribution on sys.path declares an entry point group named ``group``."""
    if _custom_finders():
        return True
    header = f"[{group}]".encode()
    return any(text is None or header in text for text in _entry_point_files(tuple(sys.path)))


def _custom_finders() -> bool:
    from importlib.machinery import PathFinder

    return any(hasattr(f, "find_distributions") and f is not PathFinder for f in sys.meta_path)


@functools.cache  # the CLI asks twice (pydantic's group, then ours) for the same sys.path
def _entry_point_files(path: tuple[str, ...]) -> list[bytes | None]:
    """The bytes of each entry_points.txt on ``path``; None for a place this scan cannot read (a zip file)."""
    return list(_read_entry_point_files(path))


def _read_entry_point_files(path: tuple[str, ...]) -> Iterator[bytes | None]:
    for entry in path:
        folder = entry or "."
        if os.path.isfile(folder):
            yield None
            continue
        try:
            names = [n for n in os.listdir(folder) if n.endswith(_METADATA_DIRS)]
        except OSError:  # a sys.path entry that does not exist, as python311.zip usually does not
            continue
        for name in names:
            try:
                with open(os.path.join(folder, name, "entry_points.txt"), "rb") as file:
                    yield file.read()
            except OSError:  # a distribution without entry points
                continue


def skip_empty_pydantic_plugin_scan() -> None:
    """Tell pydantic there are no plugins when none is installed, so it does not scan for them itself."""
    if "PYDANTIC_DISABLE_PLUGINS" not in os.environ and not may_declare("pydantic"):
        os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
