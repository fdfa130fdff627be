"""LLM output drift for `drift.check`: the gateway's usage records of two windows as two samples.

Three columns, each compared as any other:
- `llm.tokens_out`: the length of the replies a model gave (numeric; calls that failed or came from a cache are
  missing, since their length says nothing about the model);
- `llm.refused`: whether the gateway refused the call (over budget);
- `llm.error`: whether the call failed (provider errors, and replies the provider could not parse, which the
  gateway records as errors).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from components.usagereport import window_seconds

if TYPE_CHECKING:
    import pandas as pd

    from components.gateway.resource import LlmGateway
    from components.gateway.usage import UsageRecord


def llm_samples(gateway: LlmGateway, reference: str, current: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The calls of the ``current`` window (back from now) and of the ``reference`` window just before it."""
    now = time.time()
    cur_span, ref_span = window_seconds(current), window_seconds(reference)
    split = now - (cur_span or 0.0)
    start = 0.0 if ref_span is None else split - ref_span
    records = gateway.usage_records(start)
    before = [r for r in records if r.at < split]
    after = [r for r in records if r.at >= split]
    return calls_frame(before), calls_frame(after)


def calls_frame(records: list[UsageRecord]) -> pd.DataFrame:
    import pandas as pd

    from components.gateway.usage import CACHE_HITS

    answered = [r.outcome == "ok" and r.cache not in CACHE_HITS for r in records]
    return pd.DataFrame(
        {
            "llm.tokens_out": [
                float(r.tokens_out) if a else float("nan") for r, a in zip(records, answered, strict=True)
            ],
            "llm.refused": [r.outcome == "refused" for r in records],
            "llm.error": [r.outcome == "error" for r in records],
        }
    )
