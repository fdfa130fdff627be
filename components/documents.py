"""The document type that flows between loaders, chunkers, embedders and stores."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """A unit of text with its metadata. ``id`` is stable: a hash of where it came from and what it says."""

    id: str
    content: str
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_source(cls, source: str, content: str, **meta: Any) -> Document:
        digest = hashlib.sha256(f"{source}\0{content}".encode()).hexdigest()[:32]
        return cls(id=digest, content=content, meta={"source": source, **meta})
