"""Which module defines each built-in component, so the engine imports a module only when a pipeline uses it.

`dagwright validate` imported every module here to find the components: about a third of its start-up
(bench/engine.py, issue 7). Every module of this package is listed, those without components too, so a module
missing here is one a team just dropped in: the registry imports it at once, as before. A test keeps this in step.
"""

from __future__ import annotations

BUILTINS: dict[str, tuple[str, ...]] = {
    "components.base": (),
    "components.chunkers": ("chunker.sections", "chunker.tokens"),
    "components.docstats": (),
    "components.documents": (),
    "components.embedcache": (),
    "components.embedders": ("embedder.onnx", "embedder.onnx_text", "embedder.openai", "embedder.openai_text"),
    "components.generators": ("generator.openai",),
    "components.htmltext": (),
    "components.index": (),
    "components.llmserver": (),
    "components.loaders": ("loader.files",),
    "components.models": (),
    "components.prompts": (),
    "components.python": ("python.call",),
    "components.retrievers": ("retriever.bm25", "retriever.dense", "retriever.hybrid"),
    "components.sinks": ("sink.json",),
    "components.stores": (),
    "components.stores.base": (),
    "components.stores.choice": (),
    "components.stores.chroma": ("store.chroma",),
    "components.stores.memory": ("store.memory",),
    "components.stores.pgvector": ("store.pgvector",),
}
