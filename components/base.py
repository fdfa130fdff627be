"""The component contract: typed params, typed ports, a cheap constructor and lazily loaded state.

A component is a class with a registry ``name`` (``family.variant``), a nested ``Params`` model and a typed
``run()``. Its input ports are ``run``'s keyword parameters; its output ports are the fields of the dataclass that
``run`` returns, or a single port named ``output`` when it returns any other type (none when it returns ``None``).

Example::

    @dataclass
    class CountOutput:
        total: int

    class WordCounter(Component):
        '''Counts words.

        Example:

        ```yaml
        uses: text.count_words
        with: {lowercase: true}
        ```
        '''
        name = "text.count_words"

        class Params(ComponentParams):
            lowercase: bool = False

        def run(self, texts: list[str]) -> CountOutput:
            return CountOutput(total=sum(len(t.split()) for t in texts))
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

if typing.TYPE_CHECKING:
    from components.resources import ResourceProvider

SINGLE_OUTPUT = "output"


class NoResources:
    """The provider of a component built outside the engine: any lookup says how to get one."""

    def get(self, name: str, kind: type[Any]) -> Any:
        raise LookupError(f"resource '{name}' is only available when the component runs in a pipeline")

    def identity(self, name: str) -> str:
        return name


class ComponentParams(BaseModel):
    """Base of every component's ``Params``: unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ComponentError(Exception):
    """A component's definition is invalid (missing type hints, a bad name...)."""


@dataclass(frozen=True)
class Port:
    """One input or output of a component: its name, type and (for inputs) whether it must be wired."""

    name: str
    type: Any
    required: bool = True
    default: Any = None


@dataclass(frozen=True)
class Ports:
    inputs: Mapping[str, Port]
    outputs: Mapping[str, Port]
    # True when run() returns the outputs as one dataclass, so the engine splits its fields into ports.
    dataclass_output: bool


class Component:
    """Base class of every dagwright component.

    Subclasses set ``name`` and, when they take settings, a nested ``Params(ComponentParams)``. Bump ``version``
    when the same params and inputs would give different outputs: it is part of the cache key.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    Params: ClassVar[type[ComponentParams]] = ComponentParams
    # False for components with side effects (sinks) or non-deterministic outputs: never served from cache.
    cacheable: ClassVar[bool] = True
    # True for components that write to the outside world (stores, sinks): `dagwright check` does not run them.
    writes: ClassVar[bool] = False
    # Data-quality checks on ports unless a stage overrides them: {"outputs": {"output": ["unique_ids", ...]}}.
    default_checks: ClassVar[dict[str, dict[str, list[Any]]]] = {}

    def __init__(self, params: ComponentParams | None = None, resources: ResourceProvider | None = None) -> None:
        # Cheap on purpose: heavy state (model sessions, pools) is built on first use and kept on the instance.
        self.params = params if params is not None else self.Params()
        # The shared resources its params name (stores, models); the engine passes them in.
        self.resources: ResourceProvider = resources if resources is not None else NoResources()

    def run(self, **inputs: Any) -> Any:  # pragma: no cover - always overridden
        raise ComponentError(f"{type(self).__name__} does not define run()")

    @classmethod
    def ports(cls, params: ComponentParams) -> Ports:
        """The ports of a stage using this component; components with params-dependent ports override this."""
        return ports_of_callable(cls.run, owner=cls.name or cls.__name__, skip_first=True)

    @classmethod
    def has_static_ports(cls) -> bool:
        """Whether the ports come from run()'s signature alone, so they are known even when params are invalid."""
        return cls.ports.__func__ is Component.ports.__func__  # type: ignore[attr-defined]

    @classmethod
    def fingerprint(cls, params: ComponentParams) -> str:
        """Extra text folded into the cache key (e.g. the source of user code a component calls)."""
        return ""


def ports_of_callable(fn: Callable[..., Any], *, owner: str, skip_first: bool = False) -> Ports:
    """Derive ports from type hints; a missing hint is an error, as a port without a type cannot be checked."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # unresolvable forward references
        raise ComponentError(f"{owner}: cannot resolve the type hints of {fn.__qualname__}: {exc}") from None
    parameters = list(inspect.signature(fn).parameters.values())
    if skip_first:
        parameters = parameters[1:]
    inputs: dict[str, Port] = {}
    for p in parameters:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name not in hints:
            raise ComponentError(f"{owner}: missing type hint for input '{p.name}' in {fn.__qualname__}")
        required = p.default is inspect.Parameter.empty
        inputs[p.name] = Port(p.name, hints[p.name], required, None if required else p.default)
    if "return" not in hints:
        raise ComponentError(f"{owner}: missing return type hint in {fn.__qualname__}")
    return _output_ports(hints["return"], inputs)


def _output_ports(returns: Any, inputs: dict[str, Port]) -> Ports:
    if returns is type(None) or returns is None:
        return Ports(inputs, {}, dataclass_output=False)
    if isinstance(returns, type) and dataclasses.is_dataclass(returns):
        field_types = typing.get_type_hints(returns)
        outputs = {f.name: Port(f.name, field_types[f.name]) for f in dataclasses.fields(returns)}
        return Ports(inputs, outputs, dataclass_output=True)
    return Ports(inputs, {SINGLE_OUTPUT: Port(SINGLE_OUTPUT, returns)}, dataclass_output=False)


def split_outputs(ports: Ports, returned: Any) -> dict[str, Any]:
    """Map what run() returned onto the output port names."""
    if not ports.outputs:
        return {}
    if ports.dataclass_output:
        return {name: getattr(returned, name) for name in ports.outputs}
    return {SINGLE_OUTPUT: returned}
