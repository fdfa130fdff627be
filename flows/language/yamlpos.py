"""YAML to plain data, remembering where every key and value stands so errors can say file:line:col.

PyYAML's own loader forgets positions and silently keeps the last of two duplicate keys; a pipelines file with
two stages of the same id must be an error instead, so we walk the node graph ourselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]
MERGE_TAG = "tag:yaml.org,2002:merge"

try:  # libyaml is several times faster; the pure-Python loader gives the same nodes
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - wheels ship libyaml
    _Loader = yaml.SafeLoader


@dataclass
class Positions:
    """1-based (line, col) of each value and each mapping key, by path from the document root."""

    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def of(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Where ``path`` stands, or its nearest ancestor that exists (for a missing key: its parent)."""
        table = self.keys if key else self.values
        for n in range(len(path), -1, -1):
            found = table.get(path[:n]) or self.values.get(path[:n])
            if found:
                return found
        return (1, 1)


@dataclass
class Duplicate:
    path: Path
    line: int
    col: int
    first_line: int


@dataclass
class Loaded:
    data: Any
    positions: Positions
    duplicates: list[Duplicate]


def load_yaml(text: str) -> Loaded:
    """Parse one YAML document. Raises ``yaml.MarkedYAMLError`` on syntax errors (it carries the position)."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        walker = _Walker(loader)
        data = walker.walk(node, ()) if node is not None else None
        return Loaded(data, walker.positions, walker.duplicates)
    finally:
        loader.dispose()


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Walker:
    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.positions = Positions()
        self.duplicates: list[Duplicate] = []

    def walk(self, node: yaml.Node, path: Path) -> Any:
        self.positions.values[path] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merged.update(self._merge_sources(value_node, path))
                continue
            key = self.loader.construct_object(key_node, deep=True)
            line, col = _mark(key_node)
            if key in seen:
                self.duplicates.append(Duplicate((*path, key), line, col, seen[key]))
                continue
            seen[key] = line
            self.positions.keys[(*path, key)] = (line, col)
            result[key] = self.walk(value_node, (*path, key))
        self.positions.values[path] = _mark(node)  # merging walked the anchor under this path
        # Keys written out beat keys merged in with `<<: *anchor`, as in YAML's merge-key spec.
        return {**merged, **result}

    def _merge_sources(self, node: yaml.Node, path: Path) -> dict[Any, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in reversed(sources):  # earlier sources win
            value = self.walk(source, path)
            if isinstance(value, dict):
                merged.update(value)
        return merged
