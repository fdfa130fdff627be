"""Small typed functions that test pipelines call through `python.call`.

Side effects (attempt counters, barriers) go through files or module state passed by name, so the same
function serves the in-process and the Prefect executor.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
from pydantic import BaseModel, Field

from components.base import Checkable, Presentable
from components.documents import Document
from components.stores.base import IndexReport

BARRIERS: dict[str, threading.Barrier] = {}


def numbers(n: int = 3) -> list[int]:
    return list(range(1, n + 1))


def total(values: list[int]) -> int:
    return sum(values)


def double(values: list[int]) -> list[int]:
    return [v * 2 for v in values]


def add(a: int, b: int) -> int:
    return a + b


def count_documents(documents: list[Document]) -> int:
    return len(documents)


def noop(x: int = 0) -> int:
    return x


def fail(values: list[int]) -> list[int]:
    raise ValueError("boom: this stage always fails")


def fail_with_total(values: list[int]) -> int:
    """Fails, but with a result to show (as a drift check that found drift does)."""
    from components.base import FailedWithOutputs

    raise FailedWithOutputs("over the limit", sum(values))


@dataclass(frozen=True)
class Split:
    evens: list[int]
    odds: list[int]


def split(values: list[int]) -> Split:
    return Split([v for v in values if v % 2 == 0], [v for v in values if v % 2])


def record(values: list[int], log: str, name: str) -> list[int]:
    """Append ``name`` to a log file: tests read it to see what ran, in which order, how often."""
    with Path(log).open("a") as f:
        f.write(name + "\n")
    return values


def flaky(values: list[int], log: str, failures: int) -> list[int]:
    """Fails the first ``failures`` calls (counted in ``log``), then succeeds."""
    path = Path(log)
    calls = len(path.read_text().splitlines()) if path.exists() else 0
    with path.open("a") as f:
        f.write("call\n")
    if calls < failures:
        raise RuntimeError(f"flaky failure {calls + 1} of {failures}")
    return values


def crash_if_exists(values: list[int], marker: str) -> list[int]:
    """Fails while ``marker`` exists: a stand-in for a crash that a later run no longer hits."""
    if Path(marker).exists():
        raise RuntimeError("simulated crash")
    return values


def meet(values: list[int], barrier: str, parties: int = 2) -> list[int]:
    """Returns only if ``parties`` stages reach the barrier together: proof that they run concurrently."""
    b = BARRIERS.setdefault(barrier, threading.Barrier(parties, timeout=20))
    b.wait()
    return values


def sleep(values: list[int], seconds: float) -> list[int]:
    time.sleep(seconds)
    return values


def duplicate_documents(documents: list[Document]) -> list[Document]:
    """Every document twice: ids are no longer unique."""
    return [*documents, *documents]


def embed_wrong_dimension(documents: list[Document]) -> list[Document]:
    import dataclasses

    import numpy as np

    vector = np.ones(10, dtype="float32") / np.sqrt(10)
    return [dataclasses.replace(d, embedding=vector) for d in documents]


def poison_one_embedding(documents: list[Document]) -> list[Document]:
    """A NaN in the first document's embedding, as a broken model might give."""
    import dataclasses

    import numpy as np

    first = np.array(documents[0].embedding, dtype="float32")
    first[0] = np.nan
    return [dataclasses.replace(documents[0], embedding=first), *documents[1:]]


def flights_table(rows: int = 20) -> pd.DataFrame:
    return pd.DataFrame({"carrier": ["AA", "UA", None, "DL"] * (rows // 4), "delay": list(range(rows))})


@dataclass(frozen=True)
class Reply(Checkable, Presentable):
    """An answer-like output without the field names `text` and `sources`: only its declarations say what it is."""

    check_kind: ClassVar[str] = "answer"

    body: str
    cites: list[str]

    def check_row(self) -> dict[str, Any]:
        return {"content": self.body, "sources": len(self.cites)}

    def present(self) -> str:
        return f"{self.body} (from {', '.join(self.cites)})"

    def as_markdown(self) -> str:
        return f"{self.body}\n\n" + "\n".join(f"- {c}" for c in self.cites)


@dataclass(frozen=True)
class Replied:
    reply: Reply


def reply(cites: int = 0) -> Replied:
    return Replied(Reply("forty-two", [f"doc{i}.md" for i in range(cites)]))


def lookup_source(values: list[int]) -> list[str]:
    """A bug inside a stage: a key every row is assumed to have."""
    rows: list[dict[str, str]] = [{"id": str(v)} for v in values]
    return [row["source"] for row in rows]


def fail_after(values: list[int], seconds: float) -> list[int]:
    """Works for ``seconds``, then fails: a failure whose attempts take measurable time."""
    time.sleep(seconds)
    raise RuntimeError(f"failed after {seconds:g}s")


def reject_token(token: str) -> str:
    """Fails quoting its argument, in its message and in its cause, as clients do with a bad key."""
    raise ValueError(f"token {token!r} was rejected") from LookupError(f"no account for {token}")


def frame_of(value: str) -> pd.DataFrame:
    """A one-row table holding ``value``, for checks that quote what they observed."""
    return pd.DataFrame({"key": [value]})


@dataclass(frozen=True)
class Indexed:
    report: IndexReport


def index_report(values: list[int]) -> Indexed:
    """What a store sync reports, without a store: a final output that declares itself a table."""
    return Indexed(IndexReport(len(values), 0, 0, 0, 2 * len(values), 0, 2 * len(values)))


class Limits(BaseModel):
    top_k: int = Field(le=20)


def validate_limits(values: list[int]) -> Limits:
    """A validation error: the same values fail the same way on every attempt."""
    return Limits(top_k=sum(values) * 10)


def greet(name: str) -> str:
    """An output that quotes its input, as an answer may quote a secret it was given."""
    return f"hello {name}"
