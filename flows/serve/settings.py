"""The server's settings, from the environment (and the CLI's flags, which override them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServeSettings:
    keys_text: str = ""  # DAGWRIGHT_API_KEYS: "org:key,org:key"
    keys_file: str | None = None  # DAGWRIGHT_API_KEYS_FILE: one "org:key" or "org:sha256:<hex>" a line
    key_rate: int = 60  # requests a minute per API key
    org_rate: int = 600  # requests a minute per organisation
    redis_url: str | None = None  # rate-limit counters shared by every server process; in memory without it
    max_body_bytes: int = 64 * 1024
    max_question_chars: int = 4000
    timeout: float = 120.0  # seconds a request may take before a 504
    cors_origins: tuple[str, ...] = field(default_factory=tuple)  # none: CORS off
    # org -> the pipelines its keys may call (DAGWRIGHT_ORG_PIPELINES="acme=rag-query|docs;ops=*"); unlisted: all
    org_pipelines: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServeSettings:
        env = os.environ if env is None else env
        origins = tuple(o.strip() for o in env.get("DAGWRIGHT_CORS_ORIGINS", "").split(",") if o.strip())
        return cls(
            keys_text=env.get("DAGWRIGHT_API_KEYS", ""),
            keys_file=env.get("DAGWRIGHT_API_KEYS_FILE") or None,
            key_rate=int(env.get("DAGWRIGHT_RATE_LIMIT_KEY", cls.key_rate)),
            org_rate=int(env.get("DAGWRIGHT_RATE_LIMIT_ORG", cls.org_rate)),
            redis_url=env.get("DAGWRIGHT_REDIS_URL") or None,
            max_body_bytes=int(env.get("DAGWRIGHT_MAX_BODY_BYTES", cls.max_body_bytes)),
            max_question_chars=int(env.get("DAGWRIGHT_MAX_QUESTION_CHARS", cls.max_question_chars)),
            timeout=float(env.get("DAGWRIGHT_SERVE_TIMEOUT", cls.timeout)),
            cors_origins=origins,
            org_pipelines=parse_org_pipelines(env.get("DAGWRIGHT_ORG_PIPELINES", "")),
        )


def parse_org_pipelines(text: str) -> dict[str, set[str]]:
    found = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        org, _, names = part.partition("=")
        found[org.strip()] = {n.strip() for n in names.split("|") if n.strip()}
    return found
