"""The LLM gateway's semantic cache (issue 10): how often it serves a paraphrase, and how often it would serve a
different question (the number that matters; target 0), with and without the content-token guard, over the
labelled pairs in tests/components/gateway/cases/semantic_pairs.yaml, with the real MiniLM.

Then latency: an exact hit and a semantic hit against a miss (a call to the embedded llama.cpp SmolLM2 server,
started once before timing), through `LlmGateway.reply` with the same prompt, context and params.

    .venv/bin/python bench/semantic_cache.py            # rates at 0.90, 0.95 (shipped), 0.98; 3 rounds of calls
    .venv/bin/python bench/semantic_cache.py --rates    # rates only: no model server
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUESTIONS = [  # (asked first, a paraphrase of it)
    ("How do I delete a git branch?", "how can I delete a git branch"),
    ("Where do secrets live?", "Where do the secrets live?"),
    ("What is the default chunk size?", "What's the default chunk size?"),
]
CONTEXT = "[1] (notes.md) Secrets live in the environment. Branches are deleted with `git branch -d`."


def rates() -> None:
    from components.gateway.semantic import QuestionEmbedder
    from tests.helpers.semantic_pairs import load_pairs, rate, served

    pairs, embedder = load_pairs(), QuestionEmbedder()
    print(f"pairs: {len(pairs['hit'])} paraphrases (should hit), {len(pairs['miss'])} near misses (must not)")
    print(f"{'threshold':>9}  {'guard':>5}  {'hit rate':>8}  {'false-hit rate':>14}")
    for threshold in (0.90, 0.95, 0.98):
        for guard in (True, False):
            hits = rate(served(pairs["hit"], threshold, guard=guard, embedder=embedder))
            false = served(pairs["miss"], threshold, guard=guard, embedder=embedder)
            print(f"{threshold:>9.2f}  {'on' if guard else 'off':>5}  {hits:>8.3f}  {rate(false):>14.3f}")
            if threshold == 0.95 and not guard:
                for (a, b), hit in zip(pairs["miss"], false, strict=True):
                    if hit:
                        print(f"{'':>18}false hit without the guard: {a!r} -> {b!r}")


def ask(gateway: Any, question: str) -> tuple[float, str]:
    messages = [{"role": "system", "content": "Answer briefly from the context."}]
    messages.append({"role": "user", "content": f"Context:\n{CONTEXT}\n\nQuestion: {question}"})
    started = time.perf_counter()
    reply = gateway.reply(messages, prompt="bench@1", question=question, context="ctx-1", temperature=0, max_tokens=32)
    return (time.perf_counter() - started) * 1000, reply.served_by


def latencies() -> None:
    from components.gateway.resource import LlmGateway
    from components.resources import opened

    with tempfile.TemporaryDirectory() as tmp:
        gateway = opened(
            LlmGateway,
            root=Path(tmp),
            state_dir=Path(tmp) / "state",
            cache={"exact": True, "semantic": {"threshold": 0.95}},
        )
        try:
            ask(gateway, "Warm-up: what is in the notes?")  # starts the server and loads MiniLM, untimed
            times: dict[str, list[float]] = {"model": [], "exact_cache": [], "semantic_cache": []}
            for question, paraphrase in QUESTIONS:
                for asked in (question, question, paraphrase):  # a miss, an exact hit, a semantic hit
                    ms, served_by = ask(gateway, asked)
                    times[served_by].append(ms)
        finally:
            gateway.close()
    miss = statistics.median(times["model"])
    print(f"\nlatency through LlmGateway.reply (median of {len(QUESTIONS)}; SmolLM2-135M, max_tokens 32):")
    for served_by, values in times.items():
        if values:
            median = statistics.median(values)
            note = "a miss: the model" if served_by == "model" else f"{miss / median:,.0f}x faster than a miss"
            print(f"  {served_by:<15} {median:9.2f} ms   ({note})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", action="store_true", help="the evaluation set's rates only")
    args = parser.parse_args()
    rates()
    if not args.rates:
        latencies()


if __name__ == "__main__":
    main()
