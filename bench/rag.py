"""RAG benchmarks (issue #3). Every number is printed beside a baseline measured in the same run.

    .venv/bin/python bench/rag.py                 # all (the first run embeds 100k passages: ~10-15 min)
    .venv/bin/python bench/rag.py ingest quality  # only some parts

1. ingest: end-to-end rag-ingest throughput (chunks/s, in process, embedding cache off) against the raw
   embedder's throughput on the same chunk texts. Target: at least 0.8.
2. stores: query latency p50/p95 and recall@10 against exact search, at 100k chunks of real MiniLM embeddings
   (docstring paragraphs of the installed packages: real text written by people), for numpy brute force (the
   baseline), pgvector on its embedded server (HNSW; the embedded default since issue 8), Chroma (the default
   before) and LanceDB (the other embedded candidate). Target for the default: p50 within 3x of numpy,
   recall@10 >= 0.95.
3. quality: recall@10, MRR and nDCG@10 of dense, BM25 and hybrid retrieval on the Lee corpus (gensim's test
   data: 50 news documents with human similarity judgements, plus 300 background documents as distractors).
4. threshold: MiniLM cosine of questions to the passage that answers them, and to the best passage for
   off-topic questions, on the shipped docs: the evidence for the default score_threshold.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CACHE = REPO / ".dagwright" / "bench"
N_PASSAGES, N_QUERIES, K = 100_000, 200, 10


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


# ---------------------------------------------------------------- 1. ingest throughput


def bench_ingest() -> None:
    from components.chunkers import SectionChunker
    from components.embedders import minilm_embed, minilm_session
    from flows.execute.local import run_local
    from flows.language.load import load
    from flows.plan.planner import plan_pipeline

    folder = Path(tempfile.mkdtemp(prefix="dagwright-ingest-"))
    corpus = folder / "corpus"
    corpus.mkdir()
    for i, text in enumerate(lee_documents() + lee_background()):
        (corpus / f"doc{i:03d}.txt").write_text(text)
    (folder / "pipelines.yaml").write_text(
        "resources:\n"
        f"  store: {{uses: store.pgvector, with: {{path: '{folder / 'pg'}', collection: ingest}}}}\n"
        "  minilm: {uses: embedding.onnx, with: {cache: false}}\n"
        "pipelines:\n  ingest:\n    stages:\n"
        f"      load: {{uses: loader.files, with: {{path: '{corpus}', allowed_roots: ['{corpus}']}}}}\n"
        "      chunk: {uses: chunker.sections, with: {chunk_size: 254, overlap: 32},\n"
        "              inputs: {documents: load.output}}\n"
        "      embed: {uses: embedder.documents, inputs: {documents: chunk.output}}\n"
        "      index: {uses: store.write, with: {store: store}, inputs: {documents: embed.output}}\n"
    )
    plan = plan_pipeline(load(folder / "pipelines.yaml"), "ingest")
    started = time.perf_counter()
    import great_expectations  # noqa: F401 - paid once per process by the first gate; reported apart

    gx_import = time.perf_counter() - started
    started = time.perf_counter()
    result = run_local(plan, use_cache=False).raise_for_status()
    wall = time.perf_counter() - started
    chunks = result.stages["chunk"].rows_out or 0
    from components.loaders import FileLoader

    texts = [
        c.content
        for c in SectionChunker(SectionChunker.Params(chunk_size=254, overlap=32)).run(
            FileLoader(FileLoader.Params(path=str(corpus), allowed_roots=[str(corpus)])).run()
        )
    ]
    started = time.perf_counter()
    minilm_embed(texts, 32, minilm_session(0))
    raw = time.perf_counter() - started
    ratio = (chunks / wall) / (len(texts) / raw)
    cold = (chunks / (wall + gx_import)) / (len(texts) / raw)
    print(
        f"ingest: {chunks} chunks end to end (load, chunk, embed, index, every default gate) at "
        f"{chunks / wall:.1f} chunks/s vs the raw embedder alone at {len(texts) / raw:.1f} chunks/s = {ratio:.2f}; "
        f"{'meets' if ratio >= 0.8 else 'MISSES'} the 0.8 target. Counting Great Expectations' one-time import "
        f"({gx_import:.1f} s) as in a cold process: {cold:.2f}"
    )
    shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- corpora


def gensim_data(name: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec("gensim")
    assert spec and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data" / name


def lee_documents() -> list[str]:
    return [line.strip() for line in gensim_data("lee.cor").read_text(errors="replace").splitlines() if line.strip()]


def lee_background() -> list[str]:
    text = gensim_data("lee_background.cor").read_text(errors="replace")
    return [line.strip() for line in text.splitlines() if line.strip()]


def lee_similarity() -> np.ndarray:
    rows = [[float(x) for x in line.split()] for line in gensim_data("similarities0-1.txt").read_text().splitlines()]
    upper = np.array(rows)
    return np.maximum(upper, upper.T)  # the file holds the upper triangle


def docstring_passages(limit: int) -> list[str]:
    """Distinct docstring paragraphs of the installed packages, in a stable order."""
    site = Path(np.__file__).resolve().parents[1]
    seen: dict[str, None] = {}
    for file in sorted(site.rglob("*.py")):
        try:
            tree = ast.parse(file.read_text(errors="ignore"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                for para in (ast.get_docstring(node) or "").split("\n\n"):
                    text = " ".join(para.split())
                    if 60 <= len(text) <= 400 and text.count(" ") >= 8:
                        seen.setdefault(text)
        if len(seen) >= limit:
            break
    return list(seen)[:limit]


def passage_embeddings() -> tuple[list[str], np.ndarray]:
    """100k + queries passages and their MiniLM vectors, computed once and kept under .dagwright/bench."""
    from components.embedders import _normalize, minilm_embed, minilm_session

    texts_file, vectors_file = CACHE / "passages.json", CACHE / "passages.npy"
    if texts_file.exists() and vectors_file.exists():
        return json.loads(texts_file.read_text()), np.load(vectors_file)
    CACHE.mkdir(parents=True, exist_ok=True)
    texts = docstring_passages(N_PASSAGES + N_QUERIES)
    started = time.perf_counter()
    session = minilm_session(0)
    vectors = np.vstack(
        [_normalize(minilm_embed(texts[i : i + 2000], 64, session)) for i in range(0, len(texts), 2000)]
    )
    print(f"(embedded {len(texts)} passages in {time.perf_counter() - started:.0f}s, cached in {CACHE})")
    texts_file.write_text(json.dumps(texts))
    np.save(vectors_file, vectors)
    return texts, vectors


# ---------------------------------------------------------------- 2. stores at 100k


def timed_queries(search: Any, queries: np.ndarray) -> tuple[list[float], list[list[int]]]:
    for q in queries[:5]:
        search(q)  # warm caches
    times, results = [], []
    for q in queries:
        started = time.perf_counter()
        results.append(search(q))
        times.append((time.perf_counter() - started) * 1000)
    return times, results


def recall(found: list[list[int]], exact: list[list[int]]) -> float:
    return float(np.mean([len(set(f[:K]) & set(e[:K])) / K for f, e in zip(found, exact, strict=True)]))


def bench_stores() -> None:
    texts, vectors = passage_embeddings()
    corpus, queries = vectors[:N_PASSAGES], vectors[N_PASSAGES : N_PASSAGES + N_QUERIES]
    base_times, exact = timed_queries(lambda q: list(np.argsort(-(corpus @ q))[:K]), queries)
    base = statistics.median(base_times)
    print(f"stores at {len(corpus)} real MiniLM vectors, {len(queries)} queries, k={K}:")
    print(f"  numpy brute force: p50 {base:.2f} ms, p95 {pct(base_times, 95):.2f} ms (the baseline; recall 1.00)")
    folder = Path(tempfile.mkdtemp(prefix="dagwright-stores-"))
    for name, build in (("pgvector", pgvector_search), ("chroma", chroma_search), ("lancedb", lancedb_search)):
        started = time.perf_counter()
        search = build(folder, corpus, texts)
        load_s = time.perf_counter() - started
        times, found = timed_queries(search, queries)
        p50, rec = statistics.median(times), recall(found, exact)
        verdict = ""
        if name == "pgvector":
            ok = p50 <= 3 * base and rec >= 0.95
            verdict = f"; {'meets' if ok else 'MISSES'} the target (p50 <= 3x numpy, recall >= 0.95)"
        print(
            f"  {name}: p50 {p50:.2f} ms ({p50 / base:.2f}x numpy), p95 {pct(times, 95):.2f} ms, "
            f"recall@10 {rec:.3f}, load+index {load_s:.0f}s{verdict}"
        )
    shutil.rmtree(folder, ignore_errors=True)


def _docs(corpus: np.ndarray, texts: list[str]) -> list[Any]:
    from components.documents import Document

    return [Document(str(i), texts[i], {"source": f"s{i}", "doc_id": f"d{i}"}, v) for i, v in enumerate(corpus)]


def chroma_search(folder: Path, corpus: np.ndarray, texts: list[str]) -> Any:
    from components.resources import opened
    from components.stores.chroma import ChromaStore

    backend = opened(ChromaStore, path=str(folder / "chroma"), collection="bench")
    backend.upsert(_docs(corpus, texts))
    return lambda q: [int(d.id) for d in backend.search(q, K)]


def lancedb_search(folder: Path, corpus: np.ndarray, texts: list[str]) -> Any:
    import lancedb
    import pyarrow as pa

    db = lancedb.connect(str(folder / "lance"))
    table = db.create_table(
        "bench",
        pa.table(
            {
                "id": pa.array(range(len(corpus)), pa.int64()),
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(corpus.reshape(-1), pa.float32()), corpus.shape[1]
                ),
            }
        ),
    )
    table.create_index(metric="cosine", index_type="IVF_HNSW_SQ", num_partitions=64)
    return lambda q: (
        table.search(q).metric("cosine").limit(K).nprobes(8).select(["id", "_distance"]).to_arrow()["id"].to_pylist()
    )


def pgvector_search(folder: Path, corpus: np.ndarray, texts: list[str]) -> Any:
    from components.resources import opened
    from components.stores.pgvector import PgvectorStore

    backend = opened(PgvectorStore, path=str(folder / "pg"), collection="bench")  # the default: embedded
    docs = _docs(corpus, texts)
    for start in range(0, len(docs), 5000):
        backend.upsert(docs[start : start + 5000])
    return lambda q: [int(d.id) for d in backend.search(q, K)]


# ---------------------------------------------------------------- 3. retrieval quality


def bench_quality() -> None:
    from components.chunkers import TokenChunker
    from components.documents import Document
    from components.embedders import OnnxEmbedding
    from components.resources import Given, opened
    from components.retrievers import BM25Retriever, DenseRetriever, HybridRetriever
    from components.stores.base import sync
    from components.stores.memory import MemoryStore

    lee, background = lee_documents(), lee_background()
    docs = [Document(f"lee{i}", t, {"source": f"lee{i}"}) for i, t in enumerate(lee)]
    docs += [Document(f"bg{i}", t, {"source": f"bg{i}"}) for i, t in enumerate(background)]
    chunks = TokenChunker(TokenChunker.Params(chunk_size=254, overlap=32)).run(docs)
    model = opened(OnnxEmbedding)
    memory = opened(MemoryStore, collection="lee-quality")
    vectors = model.vectors([c.content for c in chunks])
    sync(memory, [dataclasses.replace(c, embedding=v) for c, v in zip(chunks, vectors, strict=True)], prune=True)
    sims = lee_similarity()
    given = Given(lee=memory)
    dense = DenseRetriever(DenseRetriever.Params(store="lee", score_threshold=-1), given)
    bm25 = BM25Retriever(BM25Retriever.Params(store="lee"), given)
    hybrid = HybridRetriever(HybridRetriever.Params(store="lee", score_threshold=-1), given)
    retrievers = {
        "dense": lambda q, v: dense.run(v, 60),
        "bm25": lambda q, v: bm25.run(q, 60),
        "hybrid": lambda q, v: hybrid.run(q, v, 60),
    }
    query_vectors = model.vectors(lee)
    print(
        f"quality on the Lee corpus: 50 queries (each Lee document), {len(docs)} documents in "
        f"{len(chunks)} chunks; relevant = human similarity >= 0.5; graded gains for nDCG"
    )
    for name, retrieve in retrievers.items():
        metrics = [_judge(i, retrieve(lee[i], query_vectors[i]), sims) for i in range(len(lee))]
        r, m, n = (float(np.mean([x[j] for x in metrics])) for j in range(3))
        print(f"  {name:<6} recall@10 {r:.3f}  MRR {m:.3f}  nDCG@10 {n:.3f}")


def _judge(query: int, hits: list[Any], sims: np.ndarray) -> tuple[float, float, float]:
    """recall@10, reciprocal rank and nDCG@10 over distinct documents (the query itself left out)."""
    ranked = [src for src in dict.fromkeys(str(h.meta["source"]) for h in hits) if src != f"lee{query}"][:K]
    gain = {f"lee{j}": sims[query, j] for j in range(sims.shape[0]) if j != query}
    relevant = {src for src, g in gain.items() if g >= 0.5}
    if not relevant:
        return (1.0, 1.0, 1.0)
    rec = len(relevant & set(ranked)) / min(len(relevant), K)
    mrr = next((1 / (r + 1) for r, src in enumerate(ranked) if src in relevant), 0.0)
    dcg = sum(gain.get(src, 0.0) / np.log2(r + 2) for r, src in enumerate(ranked))
    idcg = sum(g / np.log2(r + 2) for r, g in enumerate(sorted(gain.values(), reverse=True)[:K]))
    return rec, mrr, dcg / idcg


# ---------------------------------------------------------------- 4. threshold evidence

QUESTIONS = [
    ("How does dagwright decide that a cached stage result can be reused?", "concepts.md"),
    ("Where does dagwright keep its state?", "faq.rst"),
    ("How do I run a pipeline without Prefect?", "faq.rst"),
    ("Why was my chunk size lowered?", "faq.rst"),
    ("Where should secrets go?", "faq.rst"),
    ("What happens when a stage fails?", "concepts.md"),
    ("What is a score threshold?", "glossary.html"),
    ("Should the constructor of a component load the model?", "writing-components.md"),
]
OFF_TOPIC = [
    "Who painted the Mona Lisa?",
    "What is the boiling point of water at sea level?",
    "How many players are on a football team?",
    "Recommend a recipe for banana bread.",
    "What is the capital of Australia?",
    "When did the Roman Empire fall?",
]


def bench_threshold() -> None:
    from components.chunkers import SectionChunker
    from components.embedders import OnnxEmbedding
    from components.loaders import FileLoader
    from components.resources import opened

    model = opened(OnnxEmbedding)
    chunks = SectionChunker(SectionChunker.Params(chunk_size=254, overlap=64)).run(
        FileLoader(FileLoader.Params(path=str(REPO / "docs"))).run()
    )
    matrix = model.vectors([c.content for c in chunks])
    answers = []
    for question, source in QUESTIONS:
        scores = matrix @ model.vectors([question])[0]
        answers.append(max(s for s, c in zip(scores, chunks, strict=True) if c.meta["source"] == source))
    off = [float(np.max(matrix @ model.vectors([q])[0])) for q in OFF_TOPIC]
    print(
        f"threshold: cosine of a question to its answering passage: min {min(answers):.2f}, median "
        f"{statistics.median(answers):.2f}; best passage for off-topic questions: max {max(off):.2f}, median "
        f"{statistics.median(off):.2f}"
    )


PARTS = {"ingest": bench_ingest, "stores": bench_stores, "quality": bench_quality, "threshold": bench_threshold}

if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    os.environ.setdefault("LANCE_LOG", "error")  # its Rust side warns on every query about a future default
    os.environ.setdefault("DAGWRIGHT_HOME", tempfile.mkdtemp(prefix="dagwright-bench-home-"))
    for part in sys.argv[1:] or list(PARTS):
        PARTS[part]()
