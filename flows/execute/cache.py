"""Stage results stored by cache key, so a re-run reuses them and a crashed run resumes from finished stages.

An entry is data only (flows/execute/codec.py: JSON, then the arrays' raw bytes), never a pickle: whoever can write the
state folder can plant a wrong value at worst, never code that runs when the entry is read. The folder is kept
under a size cap (``DAGWRIGHT_CACHE_SIZE``, default 1 GB) by evicting the least recently used entries.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.errors import SettingError
from flows.execute.codec import Undecodable, Unencodable, dumps, loads
from flows.execute.hashing import Unhashable, content_hash

log = logging.getLogger("dagwright.cache")

MISS = object()
MAGIC = b"dagwright-result 1\n"
SIZE_ENV = "DAGWRIGHT_CACHE_SIZE"
DEFAULT_SIZE = 10**9  # 1 GB, as the README and `cache info` (decimal units) say
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 1 << 10, "MIB": 1 << 20}
_UNITS |= {"GIB": 1 << 30, "TIB": 1 << 40}
_KEY = re.compile(r"^[0-9a-f]{64}$")


def parse_size(text: str) -> int:
    """Bytes from ``"500MB"``, ``"2GiB"`` or a plain number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _UNITS:
        raise SettingError(f"{SIZE_ENV}={text!r}: expected a size such as 500MB, 2GB or 1GiB, or a number of bytes")
    return int(float(match.group(1)) * _UNITS[unit])


def size_cap() -> int:
    text = os.environ.get(SIZE_ENV, "").strip()
    return parse_size(text) if text else DEFAULT_SIZE


@dataclass
class CacheInfo:
    entries: int = 0
    bytes: int = 0
    pipelines: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (entries, bytes)


class ResultStore:
    """Results under ``root/ab/abcdef...``, written atomically so a crash never leaves half a result. Each entry
    is a header line (JSON: pipeline, stage) and the encoded outputs; reading one refreshes its time, which is
    what least-recently-used eviction goes by."""

    def __init__(self, root: Path, max_bytes: int | None = None) -> None:
        self.root = root
        self.max_bytes = size_cap() if max_bytes is None else max_bytes
        # Bytes under root: scanned on this store's first write (once a run), then kept up to date.
        self._total: int | None = None

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> Any:
        """The stored value, or ``MISS``: a missing, truncated, foreign or tampered entry is a miss."""
        path = self._path(key)
        try:
            data = path.read_bytes()
            value = _parse(data)
        except (OSError, Undecodable):
            return MISS
        with contextlib.suppress(OSError):
            os.utime(path)
        return value

    def put(self, key: str, value: Any, *, pipeline: str = "", stage: str = "") -> bool:
        """Store a result; False when it is not stored. A value the format cannot hold is not cached, and a
        failed write (read-only or full disk) is a warning: the stage's result stands either way."""
        try:
            data = MAGIC + json.dumps({"pipeline": pipeline, "stage": stage}).encode() + b"\n" + dumps(value)
        except Unencodable as exc:
            log.info("stage %s not cached: %s", stage or key[:12], exc)
            return False
        try:
            self._write(self._path(key), data)
        except OSError as exc:
            where, why = stage or key[:12], f"{type(exc).__name__}: {exc}"
            log.warning(
                "could not cache the result of stage %s in %s (it stands; not reused): %s", where, self.root, why
            )
            return False
        if self._total is None:
            self._total = sum(st.st_size for _, st in self.entries())
        else:
            self._total += len(data)
        if self._total > self.max_bytes:
            with contextlib.suppress(OSError):
                self.evict(keep=key)
        return True

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def entries(self) -> Iterator[tuple[Path, os.stat_result]]:
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if _KEY.match(path.name):
                    with contextlib.suppress(OSError):
                        yield path, path.stat()

    def evict(self, keep: str = "") -> int:
        """Remove least recently used entries until the folder is under the cap; the number removed."""
        found = sorted(self.entries(), key=lambda e: e[1].st_mtime_ns)
        total = sum(st.st_size for _, st in found)
        removed = 0
        for path, st in found:
            if total <= self.max_bytes:
                break
            if path.name == keep:
                continue
            path.unlink(missing_ok=True)
            total -= st.st_size
            removed += 1
        self._total = total
        return removed

    def info(self) -> CacheInfo:
        info = CacheInfo()
        for path, st in self.entries():
            info.entries += 1
            info.bytes += st.st_size
            count, size = info.pipelines.get(_pipeline(path), (0, 0))
            info.pipelines[_pipeline(path)] = (count + 1, size + st.st_size)
        return info

    def clear(self, pipeline: str | None = None) -> tuple[int, int]:
        """Remove every entry, or those of one pipeline; (entries, bytes) removed."""
        count = size = 0
        for path, st in list(self.entries()):
            if pipeline is None or _pipeline(path) == pipeline:
                path.unlink(missing_ok=True)
                count, size = count + 1, size + st.st_size
        return count, size


def _parse(data: bytes) -> Any:
    if not data.startswith(MAGIC):
        raise Undecodable("not a dagwright result (an older pickle, or planted)")
    _, _, body = data[len(MAGIC) :].partition(b"\n")
    return loads(body)


def _pipeline(path: Path) -> str:
    try:
        with path.open("rb") as f:
            if f.readline() != MAGIC:
                return ""
            return str(json.loads(f.readline()).get("pipeline", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def cache_key(
    *,
    component: str,
    version: str,
    code: str,
    params: Any,
    inputs: dict[str, Any],
    resources: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
    libraries: Mapping[str, str] | None = None,
) -> str | None:
    """component name + version + code hash (its module and the project modules it imports) + params + content
    hashes of inputs + identities of the resources used + content hashes of the files it reads by reference +
    versions of the libraries it declares; None if an input is unhashable."""
    try:
        parts = {
            "component": component,
            "version": version,
            "code": code,
            "params": content_hash(params),
            "inputs": {name: content_hash(value) for name, value in sorted(inputs.items())},
            "resources": dict(sorted((resources or {}).items())),
            "files": dict(sorted((files or {}).items())),
            "libraries": dict(sorted((libraries or {}).items())),
        }
    except Unhashable:
        return None
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
