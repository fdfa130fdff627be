"""A run whose generated tokens reach the client as they come: the worker thread's token listener
(components/tokens.py) hands each token to the event loop, which sends it on while the run goes on.

A client that goes away closes this generator (Starlette cancels the response on `http.disconnect`); from then
on the listener raises StreamClosed at the next token, so the provider closes its connection (llama.cpp frees its
slot), the stage fails without a retry, and the run ends instead of generating for nobody."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from components.runinfo import RunInfo
from components.tokens import StreamClosed, streaming_tokens
from flows.execute.outputs import scrub_data
from flows.execute.secrets import secrets_of_run
from flows.execute.session import Session
from flows.plan.planner import Plan
from flows.serve.problems import ProblemError
from flows.serve.runner import Served, run_pipeline

Event = tuple[str, Any]  # ("token", text) | ("done", Served) | ("error", ProblemError)


async def run_streaming(
    plan: Plan,
    params: Mapping[str, Any],
    session: Session,
    timeout: float,
    who: RunInfo,
    on_gone: Callable[[], None] = lambda: None,
) -> AsyncIterator[Event]:
    """The run's tokens in order, then its outcome. A provider that does not stream gives no tokens, so the
    whole answer follows as one token: a client reads tokens the same way from every provider. ``on_gone`` is
    called when the client leaves before the outcome."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()
    gone = threading.Event()

    def listener(text: str) -> None:  # called in the worker thread; the queue belongs to the event loop
        if gone.is_set():
            raise StreamClosed("the client that streamed this run went away")
        loop.call_soon_threadsafe(queue.put_nowait, text)

    listening = lambda: streaming_tokens(listener)  # noqa: E731
    task = asyncio.ensure_future(run_pipeline(plan, params, session, timeout, who, listening))
    sent, ended = 0, False
    try:
        while not task.done() or not queue.empty():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                sent += 1
                yield "token", getter.result()
            else:
                getter.cancel()
        served = task.result()
    except ProblemError as problem:
        ended = True
        yield "error", problem
        return
    finally:
        gone.set()  # the run's thread stops at its next token (a timeout too), and nothing reads it any more
        task.cancel()
        if not ended and not task.done():
            on_gone()
    if not sent and (text := answer_of(served)["text"]):
        yield "token", text
    yield "done", served


def answer_of(served: Served) -> dict[str, Any]:
    """The answer's text, sources, usage and model, from the first final output that carries text (a
    generator's Answer) or is a string; the run's secrets masked, as in /run's outputs."""
    return scrub_data(_answer(served), secrets_of_run(served.plan, served.result.params))


def _answer(served: Served) -> dict[str, Any]:
    for value in served.outputs.values():
        if isinstance(value, str):
            return {"text": value, "sources": [], "usage": {}, "model": ""}
        if isinstance(getattr(value, "text", None), str):
            sources = [_plain(s) for s in getattr(value, "sources", [])]
            usage, model = dict(getattr(value, "usage", {}) or {}), str(getattr(value, "model", ""))
            return {"text": value.text, "sources": sources, "usage": usage, "model": model}
    return {"text": "", "sources": [], "usage": {}, "model": ""}


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value
