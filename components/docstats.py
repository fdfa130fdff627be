"""Glue functions for the shipped `docs-report` pipeline, called through `python.call`.

They show how a team writes its own glue: plain typed functions, no dagwright imports beyond the data types.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from components.documents import Document

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


@dataclass(frozen=True)
class DocStat:
    source: str
    title: str
    words: int
    headings: int


def document_stats(documents: list[Document]) -> list[DocStat]:
    """Word and heading counts per document."""
    return [
        DocStat(
            source=d.meta["source"],
            title=d.meta.get("title", ""),
            words=len(_WORD.findall(d.content)),
            headings=sum(1 for line in d.content.splitlines() if line.startswith("#")),
        )
        for d in documents
    ]


def top_terms(documents: list[Document], top: int = 10, min_length: int = 5) -> list[tuple[str, int]]:
    """The most frequent words of at least ``min_length`` letters across all documents."""
    counts = Counter(w.lower() for d in documents for w in _WORD.findall(d.content) if len(w) >= min_length)
    return counts.most_common(top)


def report(stats: list[DocStat], terms: list[tuple[str, int]]) -> dict:
    """One report from the two branches of the DAG."""
    return {
        "documents": len(stats),
        "words": sum(s.words for s in stats),
        "largest": max(stats, key=lambda s: s.words).source if stats else None,
        "per_document": stats,
        "top_terms": [{"term": t, "count": c} for t, c in terms],
    }
