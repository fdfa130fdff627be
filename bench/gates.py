"""Gate overhead (issue #4): the default checks of a chunker on 10k chunks, against the chunker's own time on
the same documents, in the same run. Target: under 10% of the stage, or under 200 ms.

    .venv/bin/python bench/gates.py

Great Expectations' import (once per process) is reported apart: it is paid by the first gate only.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    from components.chunkers import SectionChunker
    from components.documents import Document
    from flows.execute.frames import to_frame
    from flows.execute.gates import GxValidator, validate_port
    from flows.plan.checks import resolve

    paragraph = "Data quality gates keep bad rows from flowing downstream into stores and models. " * 3
    docs = [
        Document.from_source(f"doc{i}.md", f"# Doc {i}\n\n" + "\n\n## Part\n\n".join([paragraph] * 10))
        for i in range(1000)
    ]
    chunker = SectionChunker(SectionChunker.Params(chunk_size=254, overlap=32))
    checks = [
        resolve("outputs", "output", "documents", item) for item in SectionChunker.default_checks["outputs"]["output"]
    ]

    started = time.perf_counter()
    import great_expectations  # noqa: F401

    gx_import = time.perf_counter() - started
    validator = GxValidator()
    stage_times, gate_times = [], []
    for _ in range(5):
        started = time.perf_counter()
        chunks = chunker.run(docs)
        stage_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        outcomes = validate_port(validator, checks, to_frame("documents", chunks))
        gate_times.append(time.perf_counter() - started)
        assert all(ok for _, ok, _, _ in outcomes)
    stage, gate = statistics.median(stage_times[1:]), statistics.median(gate_times[1:])
    ok = gate < 0.2 or gate / stage < 0.10
    print(
        f"gates on {len(chunks)} chunks ({len(checks)} default checks of chunker.sections): {gate * 1000:.0f} ms "
        f"vs the chunker's own {stage * 1000:.0f} ms = {gate / stage:.1%}; {'meets' if ok else 'MISSES'} the "
        f"target (< 10% or < 200 ms). Great Expectations import, once per process: {gx_import:.1f} s"
    )


if __name__ == "__main__":
    main()
