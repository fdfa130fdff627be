"""Resources: the long-lived things stages share (vector stores, embedding models, LLM providers), declared once
under `resources:` in pipelines.yaml and named by stages.

A resource type is a class with a registry ``name`` (``family.variant``, e.g. ``store.chroma``), its settings
model as the generic argument (``class ChromaStore(VectorStore[ChromaSettings])``, as for components), a cheap
``__init__`` and a lifecycle: the engine calls ``open()`` once per process on first use, shares the object
between stages and threads, and calls ``close()`` at exit. Its kind is the abstract
base it derives from (``VectorStore``, ``EmbeddingModel``, ``LlmProvider``); a component's param asks for a kind
with ``Annotated[str, Uses(Kind)]``, and the planner checks that the named resource is of that kind.

Example::

    resources:
      docs: {uses: store.chroma, with: {path: .dagwright/chroma, collection: docs}}
    pipelines:
      rag-ingest:
        stages:
          index: {uses: store.write, with: {store: docs}, inputs: {documents: embed.output}}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from components.base import ComponentParams, NoResources, P, params_model


@dataclass(frozen=True)
class ResourceContext:
    """Where a resource keeps its files: paths in settings are relative to the project root; caches, logs and
    embedded servers live under the one state directory. ``resources`` reaches the resources its settings name
    (``llm: Annotated[str | None, Uses(LlmGateway)]``), opened on first use."""

    project_root: Path
    state_dir: Path
    resources: ResourceProvider = field(default_factory=NoResources, compare=False)

    def path(self, value: str | os.PathLike[str]) -> Path:
        candidate = Path(value)
        return candidate if candidate.is_absolute() else self.project_root / candidate


class Resource(Generic[P]):
    """Base of every resource type. Subclasses set ``name``, derive from one kind and give their settings model
    as the generic argument (``Params`` is derived from it, as for components)."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"  # bump when the same settings would serve different data
    kind: ClassVar[str] = "resource"  # the human name of the kind, for messages ("vector store")
    Params: ClassVar[type[ComponentParams]] = ComponentParams

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.Params = params_model(cls, Resource, inherited=cls.Params)

    def __init__(self, params: P, context: ResourceContext) -> None:
        # Cheap on purpose: connections, sessions and servers start in open(), on first use.
        self.params: P = params
        self.context = context

    def open(self) -> None:
        """Connect, load or start what the resource needs; called once, before first use."""

    def close(self) -> None:
        """Release what open() took; called once at exit. Must not raise."""


R = TypeVar("R", bound=Resource[Any])


@dataclass(frozen=True)
class Uses:
    """Marks a component param as naming a resource of a kind: ``store: Annotated[str, Uses(VectorStore)]``."""

    kind: type[Resource[Any]]


class ResourceProvider(Protocol):
    """What the engine gives a component to reach the resources its params name."""

    def get(self, name: str, kind: type[R]) -> R:
        """The open resource called ``name``; it is of ``kind`` (the planner checked)."""
        ...

    def identity(self, name: str) -> str:
        """A stable hash of the resource's type and settings (secrets only hashed), for cache keys."""
        ...


def uses_of(params_cls: type[ComponentParams]) -> dict[str, type[Resource[Any]]]:
    """Param name -> the resource kind it names, from ``Annotated[str, Uses(Kind)]`` fields (of a component's
    params, or of a resource's settings that names another resource)."""
    found: dict[str, type[Resource[Any]]] = {}
    for field_name, info in params_cls.model_fields.items():
        for marker in info.metadata:
            if isinstance(marker, Uses):
                found[field_name] = marker.kind
    return found


def kind_name(kind: type[Any]) -> str:
    return str(getattr(kind, "kind", kind.__name__))


def opened(
    cls: type[R],
    *,
    root: Path | None = None,
    state_dir: Path | None = None,
    resources: ResourceProvider | None = None,
    **settings: Any,
) -> R:
    """A resource opened outside any pipeline (a notebook, a benchmark, a test); the caller closes it.
    Paths are relative to ``root`` (default: the working folder); its state goes to ``state_dir`` (default:
    ``root/.dagwright``); the resources its settings name come from ``resources`` (e.g. ``Given(llm=gateway)``)."""
    base = root or Path.cwd()
    context = ResourceContext(base, state_dir or base / ".dagwright", resources or NoResources())
    resource = cls(cls.Params(**settings), context)
    resource.open()
    return resource


class Given:
    """A resource provider over resources opened by hand (with `opened`), by name: how a component runs
    outside a pipeline."""

    def __init__(self, **resources: Resource[Any]) -> None:
        self.resources = resources

    def get(self, name: str, kind: type[R]) -> R:
        found = self.resources[name]
        if not isinstance(found, kind):
            raise TypeError(f"resource '{name}' is a {type(found).__name__}, not a {kind.__name__}")
        return found

    def identity(self, name: str) -> str:
        return name
