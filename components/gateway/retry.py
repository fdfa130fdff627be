"""Which failures are worth retrying, and how long to wait: jittered exponential backoff, or what the server
asked for in Retry-After.

Retryable: connection errors and timeouts, 429 and 5xx. Anything else (400 bad request, 401 bad key, 404 unknown
model) fails the same way on a retry, so it goes straight to the next provider.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Failure:
    retryable: bool
    status: int | None = None
    retry_after: float | None = None  # seconds the server asked us to wait
    down: bool | None = None  # says the provider is unhealthy (counts toward its breaker); default: retryable

    @property
    def unhealthy(self) -> bool:
        return self.retryable if self.down is None else self.down


def classify(exc: BaseException) -> Failure:
    """Sort an exception of the openai client, httpx or the socket layer."""
    import httpx
    import openai

    from components.llmserver import LlmServerError

    if isinstance(exc, LlmServerError):  # the embedded server did not start: no retry now, but it is down
        return Failure(False, down=True)
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None) or getattr(response, "status_code", None)
    if isinstance(status, int):
        wait = retry_after(getattr(response, "headers", None) or {})
        return Failure(status == 429 or status >= 500, status, wait)
    connection = (openai.APIConnectionError, httpx.TransportError, ConnectionError, TimeoutError)
    return Failure(isinstance(exc, connection))


def retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` (OpenAI's) or `Retry-After` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):  # neither seconds nor a date: as if not sent
            return None
        return max(0.0, when.timestamp() - time.time())


def backoff(
    attempt: int, base: float, cap: float, asked: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds before retry number ``attempt`` (1 = the first retry). Full jitter (a uniform draw up to the
    exponential bound) spreads the retries of many callers that failed together; a server's Retry-After wins,
    capped so a bad header cannot stall a run."""
    if asked is not None:
        return min(asked, cap)
    return (rng or random).uniform(0, min(cap, base * 2 ** (attempt - 1)))
