"""API keys: each belongs to an organisation; only their SHA-256 is kept, and a presented key is compared with
every stored hash in constant time (hmac.compare_digest), so timing tells nothing about which one is close.

Given as `org:key` pairs in DAGWRIGHT_API_KEYS (comma-separated) or a file (DAGWRIGHT_API_KEYS_FILE), one a line;
a file can hold `org:sha256:<hex>` so the keys themselves are written nowhere on the server.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from flows.errors import SettingError
from flows.serve.problems import ProblemError
from flows.serve.settings import ServeSettings


@dataclass(frozen=True)
class Caller:
    org: str
    key_id: str  # the first 12 hex digits of the key's hash: names it in rate limits and logs, reveals nothing


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    def __init__(self, entries: list[tuple[str, str]]) -> None:
        self._entries = entries  # (org, hex sha256 of the key)

    @property
    def open(self) -> bool:
        """No keys configured: every caller is let in (a loopback development server)."""
        return not self._entries

    @classmethod
    def from_settings(cls, settings: ServeSettings) -> KeyRing:
        lines = [p for p in settings.keys_text.split(",") if p.strip()]
        if settings.keys_file:
            try:
                text = Path(settings.keys_file).read_text()
            except OSError as exc:
                raise SettingError(f"DAGWRIGHT_API_KEYS_FILE {settings.keys_file}: {exc.strerror}") from None
            lines += [ln for ln in text.splitlines() if ln.strip()]
        return cls([_entry(line.strip(), n) for n, line in enumerate(lines, start=1)])

    def caller(self, presented: str | None, client: str = "") -> Caller:
        if self.open:  # no keys: each client address is limited as a key would be, all together as one org
            return Caller("anonymous", f"client:{client}")
        if not presented:
            raise ProblemError(401, "missing_api_key", "send an API key as 'Authorization: Bearer <key>'", _CHALLENGE)
        wanted = digest(presented).encode()
        found = None
        for org, stored in self._entries:  # no early exit: every entry costs the same
            if hmac.compare_digest(wanted, stored.encode()):
                found = Caller(org, stored[:12])
        if found is None:
            raise ProblemError(401, "invalid_api_key", "the API key is not valid", _CHALLENGE)
        return found


_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _entry(line: str, n: int) -> tuple[str, str]:
    org, sep, key = line.partition(":")
    if not sep or not org or not key:
        raise SettingError(f"API key entry {n}: expected 'org:key' or 'org:sha256:<hex>'")  # the key is not quoted
    if key.startswith("sha256:") and len(key) == 71:
        return org, key.removeprefix("sha256:").lower()
    return org, digest(key)


def presented_key(authorization: str | None, api_key_header: str | None) -> str | None:
    """The key from `Authorization: Bearer` (what the openai client sends) or `X-API-Key`."""
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ProblemError(401, "invalid_authorization", "expected 'Authorization: Bearer <key>'", _CHALLENGE)
        return value.strip()
    return api_key_header
