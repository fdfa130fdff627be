"""What the fault tests run in a child process that they kill: a real sync of a folder into a store (or an
embedding run), with hooks that signal the test at a chosen point and then wait to be killed; and `run_child`,
which starts such a child and kills it with SIGKILL at that point.

Run as ``python -m tests.faults.ingest '<json spec>'``; the spec names the store, the folder and where to stop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from components.chunkers import SectionChunker
from components.documents import Document
from components.embedders import EmbeddingModel, EmbeddingSettings
from components.loaders import FileLoader
from components.resources import opened
from components.stores.base import VectorStore
from components.stores.chroma import ChromaStore
from components.stores.pgvector import PgvectorStore

FILES_DEFAULT = 60  # x 5 chunks = 300
CHROMA_BATCH = 37  # instead of ~5,461: several batches from a small corpus; not a multiple of 5 chunks a file


class HashEmbedding(EmbeddingModel[EmbeddingSettings]):
    """Deterministic 32-dim vectors from the text's hash: no model to load. Each call is logged to a file (one
    line per call) and may stop the process after a given number of calls, to be killed."""

    name = "embedding.hash-test"
    calls_file: Path | None = None
    stop_after: int | None = None

    def model_id(self) -> str:
        return "hash-test"

    def embed_texts(self, texts: list[str]) -> Any:
        calls = 0
        if self.calls_file is not None:
            with self.calls_file.open("a") as f:
                f.write(f"{len(texts)}\n")
            calls = len(self.calls_file.read_text().splitlines())
        if self.stop_after is not None and calls > self.stop_after:
            stop_here()
        return [np.frombuffer(hashlib.sha256(t.encode()).digest(), dtype="uint8").astype("float32") for t in texts]


def write_corpus(folder: Path, files: int, version: int = 1) -> Path:
    """``files`` markdown files of a title and four sections each (five chunks); version 2 edits every 3rd
    file, drops every 10th and adds two."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.md"):
        old.unlink()
    names = [i for i in range(files) if version == 1 or i % 10 != 9] + ([files, files + 1] if version == 2 else [])
    for i in names:
        edited = version == 2 and i % 3 == 0
        body = "\n\n".join(f"## Part {k}\n\nFile {i} part {k} {'edited ' if edited else ''}text." for k in range(4))
        (folder / f"f{i:04d}.md").write_text(f"# File {i}\n\n{body}\n")
    return folder


def chunks_of(folder: Path, state_dir: Path) -> list[Document]:
    docs = FileLoader(FileLoader.Params(path=str(folder), allowed_roots=[str(folder)])).run()
    chunks = SectionChunker(SectionChunker.Params(chunk_size=64, overlap=8, tokenizer="words")).run(docs)
    model = opened(HashEmbedding, root=folder, state_dir=state_dir, cache=False)
    vectors = model.vectors([c.content for c in chunks])
    return [dataclasses.replace(c, embedding=v) for c, v in zip(chunks, vectors, strict=True)]


def open_store(spec: dict[str, Any]) -> VectorStore:
    if spec["backend"] == "chroma":
        chroma = opened(ChromaStore, path=spec["path"], collection=spec["collection"])
        if spec.get("real_batches") is not True:
            chroma.client.get_max_batch_size = lambda: CHROMA_BATCH  # type: ignore[method-assign]
        return chroma
    if spec["backend"] == "embedded":  # the default: pgvector on its own embedded server in ``path``
        return opened(PgvectorStore, path=spec["path"], collection=spec["collection"])
    return opened(PgvectorStore, dsn=spec["dsn"], collection=spec["collection"])


def stop_here() -> None:
    """Tell the test we reached the chosen point, then wait for its kill -9, or, when the test set
    DAGWRIGHT_FAULT_RESUME, until that file exists, and go on."""
    Path(os.environ["DAGWRIGHT_FAULT_SIGNAL"]).write_text(str(os.getpid()))
    resume = os.environ.get("DAGWRIGHT_FAULT_RESUME")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if resume and Path(resume).exists():
            return
        time.sleep(0.02)
    sys.exit("not killed")


def after_calls(method: Callable[..., Any], count: int) -> Callable[..., Any]:
    """``method``, stopping the process right after its ``count``-th call returns."""
    calls = 0

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        result = method(*args, **kwargs)
        calls += 1
        if calls == count:
            stop_here()
        return result

    return wrapped


def arm(store: VectorStore, stop: dict[str, Any]) -> None:
    """Stop after the n-th write of the kind named: a Chroma batch (`upsert`, `delete`), a store method
    (`upsert_all`, `delete_all`, `commit_manifest`) or, on pgvector, after the rows are inserted in the open
    transaction."""
    what, n = stop["at"], stop["n"]
    if what in ("upsert", "delete"):
        collection = store.collection  # type: ignore[attr-defined]
        setattr(collection, what, after_calls(getattr(collection, what), n))
    else:
        method = {"upsert_all": "upsert", "delete_all": "delete_ids", "commit_manifest": "commit_manifest"}[what]
        setattr(store, method, after_calls(getattr(store, method), n))


def main(spec: dict[str, Any]) -> None:
    state_dir = Path(spec["state_dir"])
    if spec.get("embed_only"):
        HashEmbedding.calls_file = Path(spec["calls_file"])
        HashEmbedding.stop_after = spec.get("stop_after")
        model = opened(HashEmbedding, root=state_dir, state_dir=state_dir, batch_size=spec["batch_size"])
        model.vectors(spec["texts"])
        return
    chunks = chunks_of(Path(spec["folder"]), state_dir)
    store = open_store(spec)
    if spec.get("stop"):
        arm(store, spec["stop"])
    print(store.sync(chunks, prune=True).present())


def start_child(
    spec: dict[str, Any], tmp_path: Path, *, stops: bool = True, resume: Path | None = None
) -> subprocess.Popen:
    """Start an ingest child. When it ``stops`` (a ``stop`` or ``stop_after`` in the spec), return once it has
    reached that point, where it waits to be killed or, with ``resume``, until that file exists."""
    flag = tmp_path / f"signal-{time.monotonic_ns()}"
    env = {**os.environ, "DAGWRIGHT_FAULT_SIGNAL": str(flag)}
    if resume is not None:
        env["DAGWRIGHT_FAULT_RESUME"] = str(resume)
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.ingest", json.dumps(spec)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while stops and not flag.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"the child never reached its stop: {child.communicate()[1][-2000:]}")
        time.sleep(0.02)
    return child


def run_child(spec: dict[str, Any], tmp_path: Path, *, killed: bool = True) -> str:
    """Run one ingest child; with ``killed``, kill -9 it once it signals, else wait for it to finish."""
    if not killed:
        child = start_child(spec, tmp_path, stops=False)
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        return out.strip()
    child = start_child(spec, tmp_path)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    return ""


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
