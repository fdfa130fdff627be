"""The document type that flows between loaders, chunkers, embedders and stores."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """A unit of text with its metadata. ``id`` is stable: a hash of where it came from and what it says.

    ``embedding`` (a float32 numpy vector) is set by embedders, ``score`` by retrievers; neither takes part in
    equality, as two copies of one passage are the same passage.
    """

    id: str
    content: str
    meta: dict[str, Any] = field(default_factory=dict)
    embedding: Any = field(default=None, compare=False, repr=False)
    score: float | None = field(default=None, compare=False)

    @classmethod
    def from_source(cls, source: str, content: str, **meta: Any) -> Document:
        digest = hashlib.sha256(f"{source}\0{content}".encode()).hexdigest()[:32]
        return cls(id=digest, content=content, meta={"source": source, **meta})
