"""Haystack components as stages: ``uses: haystack:<module>.<Class>`` or one of the short aliases below.

A stage's ``with:`` holds the component's init arguments, checked at plan time like any other params. Its ports
are the component's input and output sockets; sockets of Haystack ``Document``s become ports of dagwright
``Document``s, converted at the boundary, so Haystack components connect to dagwright's loaders, chunkers and
embedders. A variadic socket (DocumentJoiner's ``documents``) takes up to four senders: ``documents``,
``documents_2``, ``documents_3`` and ``documents_4``.

Haystack costs about a second to import, so nothing here imports it until a pipeline names a Haystack component.

Example:

```yaml
uses: haystack:haystack.components.preprocessors.DocumentCleaner
with: {remove_empty_lines: true, remove_substrings: ["DRAFT"]}
inputs:
  documents: load.output
```
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import Any, ClassVar, TypeVar

from pydantic import ConfigDict, TypeAdapter, create_model

from components.base import Component, ComponentError, ComponentParams, Port, Ports
from components.documents import Document

HAYSTACK_SCHEME = "haystack:"
# Short names for the Haystack components most pipelines need; `dagwright components` lists them.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "haystack.text_converter": "haystack.components.converters.TextFileToDocument",
        "haystack.cleaner": "haystack.components.preprocessors.DocumentCleaner",
        "haystack.splitter": "haystack.components.preprocessors.DocumentSplitter",
        "haystack.joiner": "haystack.components.joiners.DocumentJoiner",
        "haystack.prompt_builder": "haystack.components.builders.PromptBuilder",
    }
)
# A variadic socket gathers several senders; dagwright wires one sender per port, so it gets numbered ports.
VARIADIC_SENDERS = 4
_UNIONS = (typing.Union, types.UnionType)


class HaystackParams(ComponentParams):
    """Init arguments of a Haystack component; unknown keys are errors, as for every component."""

    # Init arguments may be typed with any class (a document store, a Secret); YAML just cannot give those.
    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())


HP = TypeVar("HP", bound=HaystackParams)


class HaystackComponent(Component[HP]):
    """Runs one Haystack component class; ``haystack_stage()`` makes one subclass per class, whose params model
    (the class's init arguments) is its generic argument."""

    target: ClassVar[type]
    path: ClassVar[str] = ""
    _instance: Any = None  # the Haystack component, built on first use so the constructor stays cheap

    @classmethod
    def ports(cls, params: HP) -> Ports:
        return _ports_of(cls._create(params))

    @classmethod
    def fingerprint(cls, params: HP) -> str:
        # The key already holds the class path (`name`), Haystack's version and the init args. The class's own
        # source covers what the version does not: integrations versioned apart, and a project's components.
        return _source_digest(cls.target)

    @classmethod
    def _create(cls, params: HP) -> Any:
        kwargs = {name: getattr(params, name) for name in params.model_fields_set}
        try:
            return cls.target(**kwargs)
        except Exception as exc:  # a Haystack component may reject its arguments in any way
            raise ComponentError(f"{cls.path} refused its init arguments: {type(exc).__name__}: {exc}") from None

    def component(self) -> Any:
        """The Haystack component itself, created once per stage instance."""
        if self._instance is None:
            self._instance = self._create(self.params)
        return self._instance

    def warm_up(self) -> None:
        """Load heavy state (models) once, before the first run, when the Haystack component has a warm_up."""
        warm_up = getattr(self.component(), "warm_up", None)
        if callable(warm_up):
            warm_up()

    def run(self, **inputs: Any) -> Any:
        instance = self.component()
        result = instance.run(**_socket_values(instance, inputs))
        # Haystack returns a dict of outputs; the engine reads each output port as an attribute.
        names = instance.__haystack_output__._sockets_dict
        return SimpleNamespace(**{name: from_haystack(result.get(name)) for name in names})


@functools.cache
def haystack_stage(path: str) -> type[HaystackComponent[Any]]:
    """A dagwright component class for the Haystack component class at ``path`` (``module.Class``).

    The caller checks ``path`` against the allowed modules first: this imports the module."""
    target = _import_class(path)
    import haystack

    namespace: dict[str, Any] = {"target": target, "path": path, "__doc__": target.__doc__}
    # Haystack's version is part of the cache key: an upgrade may change what a component returns.
    namespace.update(name=f"{HAYSTACK_SCHEME}{path}", version=f"haystack-{haystack.__version__}")
    namespace.update(_effects(path))
    # The params model is made at run time from the init arguments, so no static type can name it.
    base = HaystackComponent[_params_model(target, path)]  # type: ignore[misc,valid-type]
    return types.new_class(f"Haystack[{path}]", (base,), exec_body=lambda ns: ns.update(namespace))


def _effects(path: str) -> dict[str, bool]:
    """Haystack groups components by family in its module paths: writers change a store, generators sample."""
    family = set(path.split("."))
    if "writers" in family:
        return {"writes": True, "cacheable": False}
    return {"cacheable": "generators" not in family}


@functools.cache
def _source_digest(target: type) -> str:
    try:
        return hashlib.sha256(Path(inspect.getfile(target)).read_bytes()).hexdigest()
    except (OSError, TypeError):  # a class defined in a notebook or built at run time has no file
        return ""


def _import_class(path: str) -> type:
    module_name, _, class_name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ComponentError(f"cannot import module '{module_name}': {exc}") from None
    target = getattr(module, class_name, None)
    if target is None:
        from difflib import get_close_matches

        classes = sorted({n for n in dir(module) if n[:1].isupper()})  # a lazy module lists loaded names twice
        close = get_close_matches(class_name, classes, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ComponentError(f"module '{module_name}' has no class '{class_name}'{hint}; it has {classes}")
    from haystack.core.component.component import ComponentMeta

    if not isinstance(target, ComponentMeta):
        raise ComponentError(f"'{path}' is not a Haystack component (a class decorated with @component)")
    return target


def _params_model(target: type, path: str) -> type[ComponentParams]:
    """A Params model whose fields are the init arguments, so `with:` is checked before any run."""
    init = target.__init__  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # unresolvable forward references: check the names, accept any value
        hints = {}
    fields: dict[str, Any] = {}
    for p in list(inspect.signature(init).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name.startswith("_"):
            continue
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (_checkable(hints.get(p.name, Any)), default)
    model = create_model("Params", __base__=HaystackParams, __module__=__name__, **fields)
    model.__qualname__ = f"Haystack[{path}].Params"  # the cache key hashes params with their class name
    return model


def _checkable(hint: Any) -> Any:
    """The hint when pydantic can validate it, else Any (the component checks its arguments itself)."""
    try:
        TypeAdapter(hint, config=ConfigDict(arbitrary_types_allowed=True))
    except Exception:
        return Any
    return hint


def _ports_of(instance: Any) -> Ports:
    inputs: dict[str, Port] = {}
    for name, socket in instance.__haystack_input__._sockets_dict.items():
        port_type = dagwright_type(socket.type)
        default = None if socket.is_mandatory else socket.default_value
        inputs[name] = Port(name, port_type, socket.is_mandatory, default)
        if socket.is_variadic:
            inputs.update({extra: Port(extra, port_type, False) for extra in _variadic_ports(name)[1:]})
    outputs = {
        name: Port(name, dagwright_type(socket.type))
        for name, socket in instance.__haystack_output__._sockets_dict.items()
    }
    # dataclass_output: the engine reads each output port as an attribute of what run() returns.
    return Ports(MappingProxyType(inputs), MappingProxyType(outputs), dataclass_output=True)


def _variadic_ports(socket: str) -> list[str]:
    return [socket, *(f"{socket}_{i}" for i in range(2, VARIADIC_SENDERS + 1))]


def _socket_values(instance: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The run() arguments of a Haystack component from a stage's inputs, variadic senders gathered in a list."""
    values: dict[str, Any] = {}
    for name, socket in instance.__haystack_input__._sockets_dict.items():
        if socket.is_variadic:
            sent = [to_haystack(inputs[p]) for p in _variadic_ports(name) if p in inputs]
            if sent:
                values[name] = sent
        elif name in inputs:
            values[name] = to_haystack(inputs[name])
    return values


def dagwright_type(socket_type: Any) -> Any:
    """A socket's type with Haystack's Document replaced by dagwright's, so plan-time type checks connect them."""
    from haystack import Document as HaystackDocument

    if socket_type is HaystackDocument:
        return Document
    args = typing.get_args(socket_type)
    mapped = tuple(dagwright_type(a) for a in args)
    if mapped == args:
        return socket_type
    origin = typing.get_origin(socket_type)
    if origin in _UNIONS:
        return typing.Union[mapped]  # noqa: UP007 - built from a tuple of members
    return origin[mapped]


def to_haystack(value: Any) -> Any:
    """dagwright Documents (alone or in a list) as Haystack Documents; other values unchanged."""
    return _convert(value, Document, _document_to_haystack)


def from_haystack(value: Any) -> Any:
    """Haystack Documents (alone or in a list) as dagwright Documents; other values unchanged."""
    from haystack import Document as HaystackDocument

    return _convert(value, HaystackDocument, _document_from_haystack)


def _convert(value: Any, kind: type, convert: Callable[[Any], Any]) -> Any:
    if isinstance(value, kind):
        return convert(value)
    if isinstance(value, list) and value and all(isinstance(v, kind) for v in value):
        return [convert(v) for v in value]
    return value


def _document_to_haystack(doc: Document) -> Any:
    import numpy as np
    from haystack import Document as HaystackDocument

    # Haystack keeps embeddings as list[float]; float32 -> float is exact, so the round trip is lossless.
    embedding = None if doc.embedding is None else np.asarray(doc.embedding, dtype=np.float32).tolist()
    return HaystackDocument(id=doc.id, content=doc.content, meta=dict(doc.meta), embedding=embedding, score=doc.score)


def _document_from_haystack(doc: Any) -> Document:
    import numpy as np

    # dagwright's embedders and stores work on float32 vectors; a Document's content is text, never None.
    embedding = None if doc.embedding is None else np.asarray(doc.embedding, dtype=np.float32)
    return Document(id=doc.id, content=doc.content or "", meta=dict(doc.meta), embedding=embedding, score=doc.score)


__all__ = [
    "ALIASES",
    "HAYSTACK_SCHEME",
    "HaystackComponent",
    "dagwright_type",
    "from_haystack",
    "haystack_stage",
    "to_haystack",
]
