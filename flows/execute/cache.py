"""Stage results stored by cache key, so a re-run reuses them and a crashed run resumes from finished stages."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flows.execute.hashing import Unhashable, content_hash

MISS = object()


class ResultStore:
    """Pickled results under ``root/ab/abcdef...``, written atomically so a crash never leaves half a result."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> Any:
        """The stored value, or ``MISS``. An unreadable entry (e.g. from an older class layout) is a miss."""
        try:
            with self._path(key).open("rb") as f:
                return pickle.load(f)
        except Exception:  # missing, truncated by a full disk, or pickled from a since-changed class
            return MISS

    def put(self, key: str, value: Any) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


_source_hashes: dict[str, str] = {}


def source_hash(module_file: str | None) -> str:
    """Hash of a component's source file: editing a project component invalidates its cached results."""
    if not module_file:
        return ""
    if module_file not in _source_hashes:
        try:
            _source_hashes[module_file] = hashlib.sha256(Path(module_file).read_bytes()).hexdigest()
        except OSError:
            _source_hashes[module_file] = ""
    return _source_hashes[module_file]


def cache_key(
    *,
    component: str,
    version: str,
    code: str,
    params: Any,
    inputs: dict[str, Any],
    resources: Mapping[str, str] | None = None,
) -> str | None:
    """component name + version + code hash + params + content hashes of inputs + identities of the resources
    used; None if an input is unhashable."""
    try:
        parts = {
            "component": component,
            "version": version,
            "code": code,
            "params": content_hash(params),
            "inputs": {name: content_hash(value) for name, value in sorted(inputs.items())},
            "resources": dict(sorted((resources or {}).items())),
        }
    except Unhashable:
        return None
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
