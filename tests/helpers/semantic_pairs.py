"""The semantic cache's labelled evaluation set (tests/components/gateway/cases/semantic_pairs.yaml) run through
the real cache and the real MiniLM: shared by its test and bench/semantic_cache.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from components.gateway.semantic import QuestionEmbedder, SqliteSemanticCache

PAIRS = Path(__file__).resolve().parent.parent / "components" / "gateway" / "cases" / "semantic_pairs.yaml"


def load_pairs() -> dict[str, list[tuple[str, str]]]:
    """{"hit": [(stored, asked), ...], "miss": [...]}."""
    data = yaml.safe_load(PAIRS.read_text(encoding="utf-8"))
    return {label: [(a, b) for a, b in data[label]] for label in ("hit", "miss")}


def served(pairs: list[tuple[str, str]], threshold: float, *, guard: bool, embedder: QuestionEmbedder) -> list[bool]:
    """For each pair: whether the cache, holding the first question's reply, serves it to the second."""
    with tempfile.TemporaryDirectory() as tmp:
        cache = SqliteSemanticCache(Path(tmp) / "semantic.sqlite", threshold, guard=guard)
        found = []
        for n, (stored, asked) in enumerate(pairs):
            cache.put(str(n), stored, embedder.vector(stored), {"text": f"answer {n}"})
            found.append(cache.get(str(n), asked, embedder.vector(asked)) is not None)
        cache.file.db().close()
    return found


def rate(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 3)
