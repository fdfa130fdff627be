"""Tokens of a generated answer, reported by the LLM provider as they arrive, to whoever streams them.

The same shape as components/progress.py: the server (`dagwright serve`'s /stream and chat endpoints) sets a
listener for the thread that runs the pipeline; a provider that can stream calls ``report_token`` per piece of
text. Outside a streaming request nobody listens, the provider need not stream, and the call costs one
context-variable lookup. Components never learn who listens, so they never import the engine.

A listener whose reader went away (an HTTP client that disconnected) raises ``StreamClosed`` from
``report_token``: the provider's loop ends there, closes its connection (llama.cpp then stops generating), and
nothing retries the call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from components.base import PermanentError

TokenListener = Callable[[str], None]


class StreamClosed(PermanentError):
    """Nobody reads this run's tokens any more (the client went away): stop generating; never retry."""


class StreamInterrupted(PermanentError):
    """A provider failed after some of its tokens reached the listener: they cannot be taken back, so the call is
    neither retried nor sent to a fallback (either would send them again); the stream ends in an error."""


_listener: ContextVar[TokenListener | None] = ContextVar("dagwright_tokens", default=None)


def wants_tokens() -> bool:
    """True while someone streams this thread's tokens: a provider should then ask its endpoint to stream."""
    return _listener.get() is not None


def report_token(text: str) -> None:
    """One piece of generated text, in order; raises StreamClosed when the reader has gone."""
    listener = _listener.get()
    if listener is not None and text:
        listener(text)


@contextmanager
def streaming_tokens(listener: TokenListener) -> Iterator[None]:
    """Send the tokens reported in this context (this thread, and the stages' threads it starts) to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
