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

_METADATA_DIRS = (".dist-info", ".egg-info")


def may_declare(group: str) -> bool:
    """False only when no distribution on sys.path declares an entry point group named ``group``."""
    if _custom_finders():
        return True
    header = f"[{group}]".encode()
    return any(
        text is None or header in text for entry in sys.path for text in _entry_point_files(os.path.abspath(entry))
    )


def _custom_finders() -> bool:
    from importlib.machinery import PathFinder

    return any(hasattr(f, "find_distributions") and f is not PathFinder for f in sys.meta_path)


# Per folder, since the CLI asks twice (pydantic's group, then ours) and the registry puts the project folder on
# sys.path in between: keyed by the whole sys.path, the second question re-read every file (~25% of the rest of
# validate's time, sampled).
@functools.cache
def _entry_point_files(folder: str) -> tuple[bytes | None, ...]:
    """The bytes of each entry_points.txt in ``folder``; None if it is a file this scan cannot read (a zip)."""
    if os.path.isfile(folder):
        return (None,)
    try:
        names = [n for n in os.listdir(folder) if n.endswith(_METADATA_DIRS)]
    except OSError:  # a sys.path entry that does not exist, as python311.zip usually does not
        return ()
    return tuple(text for name in names if (text := _read(os.path.join(folder, name, "entry_points.txt"))))


def _read(file: str) -> bytes | None:
    try:
        with open(file, "rb") as opened:
            return opened.read()
    except OSError:  # a distribution without entry points
        return None


def skip_empty_pydantic_plugin_scan() -> None:
    """Tell pydantic there are no plugins when none is installed, so it does not scan for them itself."""
    if "PYDANTIC_DISABLE_PLUGINS" not in os.environ and not may_declare("pydantic"):
        os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
