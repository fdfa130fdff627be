"""Which module defines each built-in component and resource type, so the engine imports a module only when a
pipeline uses it.

`dagwright validate` imported every module here to find the components: about a third of its start-up
(bench/engine.py, issue 7). Every module of this package is listed in BUILTINS, those without components too, so a
module missing there is one a team just dropped in: the registry imports it at once, as before. RESOURCE_TYPES
lists the modules that define resource types, looked up the same way: importing those five at once cost ~14 ms
(0.6x of `python -c pass`) of validating a file that declares no resources. A test keeps both in step.
"""

from __future__ import annotations

BUILTINS: dict[str, tuple[str, ...]] = {
    "components.base": (),
    "components.charts": (),
    "components.chunkers": ("chunker.sections", "chunker.tokens"),
    "components.docstats": (),
    "components.documents": (),
    "components.drift": ("drift.check",),
    "components.drift_flights": (),
    "components.drift_io": (),
    "components.drift_llm": (),
    "components.drift_stats": (),
    "components.durations": (),
    "components.embedcache": (),
    "components.embedders": ("embedder.documents", "embedder.text"),
    "components.features": (),
    "components.features.prepare": (),
    "components.features.reports": (),
    "components.features.selection": (),
    "components.features.stages": (
        "features.apply",
        "features.historical",
        "features.materialize",
        "features.online",
        "features.prepare",
        "features.save",
    ),
    "components.features.store": (),
    "components.features.windows": (),
    "components.gateway": (),
    "components.gateway.backends": (),
    "components.gateway.breaker": (),
    "components.gateway.budgets": (),
    "components.gateway.cache": (),
    "components.gateway.embeddings": (),
    "components.gateway.errors": (),
    "components.gateway.providers": (),
    "components.gateway.redis_caches": (),
    "components.gateway.resource": (),
    "components.gateway.retry": (),
    "components.gateway.semantic": (),
    "components.gateway.settings": (),
    "components.gateway.store": (),
    "components.gateway.tokens": (),
    "components.gateway.usage": (),
    "components.generators": ("generator.answer",),
    "components.haystack": (),
    "components.htmltext": (),
    "components.index": (),
    "components.llmserver": (),
    "components.loaders": ("loader.files",),
    "components.masking": (),
    "components.models": (),
    "components.progress": (),
    "components.prompts": (),
    "components.python": ("python.call",),
    "components.resources": (),
    "components.runinfo": (),
    "components.retrievers": ("retriever.bm25", "retriever.dense", "retriever.hybrid"),
    "components.sinks": ("sink.json",),
    "components.stores": (),
    "components.stores.base": ("store.write",),
    "components.stores.chroma": (),
    "components.stores.memory": (),
    "components.stores.pgserver": (),
    "components.stores.pgvector": (),
    "components.tokens": (),
    "components.usagereport": ("usage.report",),
}

RESOURCE_TYPES: dict[str, tuple[str, ...]] = {
    "components.embedders": ("embedding.onnx", "embedding.openai"),
    "components.features.store": ("feast.store",),
    "components.gateway.resource": ("llm.gateway",),
    "components.generators": ("llm.openai",),
    "components.stores.chroma": ("store.chroma",),
    "components.stores.memory": ("store.memory",),
    "components.stores.pgvector": ("store.pgvector",),
}
