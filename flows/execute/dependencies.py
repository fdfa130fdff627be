"""What a stage's result depends on besides its params and inputs: code, referenced files, library versions.

Each is folded into the cache key, so a changed prompt template, an edited helper module that the component
imports, or an upgraded library is a miss rather than a stale hit (issue 8). Hashes are kept per process, keyed
by each file's (mtime, size, inode), so a file edited while the process runs is read again and an unchanged one is not.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

_MISSING = "missing"
_file_hashes: dict[str, tuple[tuple[int, int, int], str]] = {}
_file_imports: dict[str, tuple[tuple[int, int, int], tuple[str, ...]]] = {}
_code_hashes: dict[tuple[str, tuple[Path, ...]], tuple[tuple[tuple[str, tuple[int, int, int] | None], ...], str]] = {}


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def file_hash(path: str | Path) -> str:
    """sha256 of a file's content ("missing" when it cannot be read), read again only when it changed."""
    path = str(path)
    stamp = _stamp(path)
    if stamp is None:
        return _MISSING
    known = _file_hashes.get(path)
    if known is not None and known[0] == stamp:
        return known[1]
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return _MISSING
    _file_hashes[path] = (stamp, digest)
    return digest


def files_hash(paths: Iterable[Path], root: Path) -> dict[str, str]:
    """Content hashes of the files a component reads by reference, named relative to ``root`` when under it (so
    the key is the same in another checkout of the project)."""
    return {_name(Path(p), root): file_hash(p) for p in paths}


def _name(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


@functools.cache
def library_version(distribution: str) -> str:
    """The installed version of a distribution, read once per process; "not installed" when absent."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def library_versions(distributions: Iterable[str]) -> dict[str, str]:
    return {name: library_version(name) for name in sorted(distributions)}


def code_hash(module: str, roots: Iterable[Path]) -> str:
    """One hash of a module's source and of every module it imports, transitively, whose file lies under one of
    ``roots`` (the project and dagwright's components package). Library code is covered by ``library_versions``,
    not here. Empty when the module has no source file."""
    roots = tuple(roots)
    known = _code_hashes.get((module, roots))
    if known is not None and all(_stamp(file) == stamp for file, stamp in known[0]):
        return known[1]  # no file of the closure changed, so neither did what they import
    found = code_files(module, roots)
    if not found:
        return ""
    h = hashlib.sha256()
    for name in sorted(found):
        h.update(f"{name}\0{file_hash(found[name])}\n".encode())
    stamps = tuple((file, _stamp(file)) for file in found.values())
    _code_hashes[(module, roots)] = (stamps, h.hexdigest())
    return h.hexdigest()


def code_files(module: str, roots: Iterable[Path]) -> dict[str, str]:
    """The module and the modules it imports, transitively, that lie under ``roots``: name -> source file."""
    return dict(_closure(module, tuple(r.resolve() for r in roots)))


def _closure(module: str, roots: tuple[Path, ...]) -> Iterator[tuple[str, str]]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        file = module_file(name, roots)
        if file is None:
            continue
        yield name, file
        package = name if file.endswith("__init__.py") else name.rpartition(".")[0]
        todo.extend(_imports(file, package))
        todo.extend(_parents(name))  # importing a.b runs a/__init__.py first


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def module_file(name: str, roots: tuple[Path, ...]) -> str | None:
    """The source file of a module if it lies under one of ``roots``; found without importing it."""
    loaded = sys.modules.get(name)
    file = getattr(loaded, "__file__", None) if loaded is not None else _find(name)
    if not file or not file.endswith(".py"):
        return None
    resolved = Path(file).resolve()
    return str(resolved) if any(_inside(resolved, r) for r in roots) else None


def _inside(file: Path, root: Path) -> bool:
    """Under ``root`` but not in a virtual environment or installed package there (``.venv/``, site-packages):
    libraries are keyed by their versions, not walked."""
    if not file.is_relative_to(root):
        return False
    parts = file.relative_to(root).parts[:-1]
    return not any(p.startswith(".") or p in ("site-packages", "dist-packages") for p in parts)


def _find(name: str) -> str | None:
    # Only a top-level name goes through find_spec, which would import the parents of a dotted one.
    top, _, rest = name.partition(".")
    try:
        spec = importlib.util.find_spec(top) if top not in sys.modules else sys.modules[top].__spec__
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        return spec.origin
    for folder in spec.submodule_search_locations or ():
        base = Path(folder, *rest.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return str(candidate)
    return None


def _imports(file: str, package: str) -> tuple[str, ...]:
    """The modules a source file imports, anywhere in it (lazy imports in functions too), as absolute names;
    ``from pkg import name`` yields both ``pkg`` and ``pkg.name``, as name may be a submodule."""
    stamp = _stamp(file)
    known = _file_imports.get(file)
    if known is not None and known[0] == stamp:
        return known[1]
    try:
        tree = ast.parse(Path(file).read_bytes(), filename=file)
    except (OSError, SyntaxError, ValueError):
        return ()
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            if base:
                names.append(base)
            names.extend(f"{base}.{alias.name}" if base else alias.name for alias in node.names)
    result = tuple(dict.fromkeys(names))
    if stamp is not None:
        _file_imports[file] = (stamp, result)
    return result


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".") if package else []
    if node.level > 1:
        parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])
