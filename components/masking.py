"""Masking secrets in text: the values a run reads with `${env:NAME}` (API keys, DSNs with passwords, Redis
URLs), in every form a driver may quote them. Shared by the engine (flows/execute/secrets.py) and components that
write text of their own below it (the LLM gateway's records and errors)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["MASK", "MIN_LENGTH", "Secrets"]

MASK = "***"
# Shorter values are not masked: replacing every "1" or "on" of a message would leave nothing readable.
MIN_LENGTH = 4
# The pieces of a connection string that drivers quote on their own: a URL's password, a `password=` pair.
_URL_PASSWORD = re.compile(r"^[^:/@\s]*:([^@\s]+)@")
_PAIR_SECRET = re.compile(r"(?:password|passwd|pwd|secret|token|key)\s*=\s*'?([^\s&';]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Secrets:
    """Values to mask, longest first, so a value that contains another is masked whole."""

    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, values: Iterable[Any]) -> Secrets:
        found: set[str] = set()
        for value in values:
            found.update(v for v in _forms(str(value)) if len(v) >= MIN_LENGTH)
        return cls(tuple(sorted(found, key=lambda v: (-len(v), v))))

    def __bool__(self) -> bool:
        return bool(self.values)

    def scrub(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def scrub_optional(self, text: str | None) -> str | None:
        return None if text is None else self.scrub(text)

    def __add__(self, other: Secrets) -> Secrets:
        return Secrets(tuple(sorted({*self.values, *other.values}, key=lambda v: (-len(v), v))))


def _forms(value: str) -> Iterator[str]:
    """The value, the secret pieces a driver may quote alone, and the escaped forms repr() and JSON give."""
    pieces = [value]
    if match := _URL_PASSWORD.match(value.split("://", 1)[-1]):
        pieces.append(match.group(1))
    pieces += [m.group(1) for m in _PAIR_SECRET.finditer(value)]
    for piece in pieces:
        yield piece
        yield repr(piece)[1:-1]
        yield json.dumps(piece)[1:-1]
