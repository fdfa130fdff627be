"""The component contract: typed params, typed ports, a cheap constructor, heavy state built in ``warm_up()``.

A component is a class with a registry ``name`` (``family.variant``), its params model as the generic argument
(``Component[CountParams]``, so ``self.params`` is typed) and a typed ``run()``. Its input ports are ``run``'s
keyword parameters; its output ports are the fields of the dataclass that ``run`` returns, or a single port named
``output`` when it returns any other type (none when it returns ``None``).

Example::

    @dataclass
    class CountOutput:
        total: int

    class CountParams(ComponentParams):
        lowercase: bool = False

    class WordCounter(Component[CountParams]):
        '''Counts words.

        Example:

        ```yaml
        uses: text.count_words
        with: {lowercase: true}
        ```
        '''
        name = "text.count_words"

        def run(self, texts: list[str]) -> CountOutput:
            return CountOutput(total=sum(len(t.split()) for t in texts))
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast, runtime_checkable

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


class PermanentError(Exception):
    """A failure that would fail the same way on every attempt (a missing folder, a refused path, an empty
    store). Components raise a subclass for deterministic failures; the engine never retries one."""


class InputError(PermanentError):
    """The stage's inputs (a request's params) name something that does not exist or cannot be used, such as an
    outcome for a key never predicted. The caller can fix it, so `dagwright serve` answers 422 with the message:
    raise it only with a message made of what the caller sent and the component's own names."""


class FailedWithOutputs(PermanentError):
    """A deterministic failure that still produced outputs worth showing (a drift report that found drift): the
    run fails, and the engine shows ``outputs`` (port -> value) as the stage's, in the terminal and as Prefect
    artifacts, as it shows a finished stage's. Nothing downstream runs, and nothing is cached."""

    def __init__(self, message: str, outputs: Any) -> None:
        super().__init__(message)
        self.outputs = outputs  # what run() would have returned: a dataclass of outputs, or the one value
        self.by_port: dict[str, Any] = {}  # the engine splits ``outputs`` into its ports (as a returned value's)

    def __reduce__(self) -> tuple[Any, ...]:  # pickled by Prefect with the task's state: keep all of it
        return (type(self), (str(self), self.outputs), {"by_port": self.by_port})


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


P = TypeVar("P", bound=ComponentParams)


class Component(Generic[P]):
    """Base class of every dagwright component: ``class WordCounter(Component[CountParams])``.

    The generic argument is the component's params model; ``Params`` is derived from it, so it is declared once.
    Subclasses set ``name`` and define a typed ``run()`` (not declared here: each has its own signature, which a
    ``run(**inputs)`` here would make an invalid override; the registry checks it instead). Bump ``version`` when
    the same params and inputs would give different outputs: it is part of the cache key.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    # Set from the generic argument by __init_subclass__ (a ClassVar cannot be typed with P).
    Params: ClassVar[type[ComponentParams]] = ComponentParams
    # False for components with side effects (sinks) or non-deterministic outputs: never served from cache.
    cacheable: ClassVar[bool] = True
    # True for components that write to the outside world (stores, sinks): `dagwright check` does not run them.
    writes: ClassVar[bool] = False
    # Data-quality checks on ports unless a stage overrides them: {"outputs": {"output": ["unique_ids", ...]}}.
    default_checks: ClassVar[dict[str, dict[str, list[Any]]]] = {}
    # Distributions whose code shapes the outputs (``("onnxruntime", "tokenizers")``): their installed versions
    # are part of the cache key, so upgrading one is a miss.
    libraries: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.Params = params_model(cls, Component, inherited=cls.Params)

    def __init__(self, params: P | None = None, resources: ResourceProvider | None = None) -> None:
        # Cheap on purpose: heavy state (model sessions, clients) is built in warm_up(), once per instance.
        # The cast holds because Params is P's class (see __init_subclass__).
        self.params: P = params if params is not None else cast(P, self.Params())
        # The shared resources its params name (stores, models); the engine passes them in.
        self.resources: ResourceProvider = resources if resources is not None else NoResources()

    def warm_up(self) -> None:
        """Build heavy state (model sessions, clients, pools). The engine calls it once, before the first run."""

    def close(self) -> None:
        """Release what ``warm_up`` built. The engine calls it when it lets the instance go (at exit at latest)."""

    @classmethod
    def ports(cls, params: P) -> Ports:
        """The ports of a stage using this component; components with params-dependent ports override this."""
        return ports_of_callable(run_method(cls), owner=cls.name or cls.__name__, skip_first=True)

    @classmethod
    def has_static_ports(cls) -> bool:
        """Whether the ports come from run()'s signature alone, so they are known even when params are invalid."""
        return not any("ports" in vars(k) for k in cls.__mro__ if k is not Component)

    @classmethod
    def fingerprint(cls, params: P) -> str:
        """Extra text folded into the cache key (e.g. the source of user code a component calls)."""
        return ""

    @classmethod
    def code_modules(cls, params: P) -> tuple[str, ...]:
        """The modules whose source shapes the outputs; the engine hashes them and the project modules they
        import, transitively. The component's own module; a component that calls user code adds its module."""
        return (cls.__module__,)

    @classmethod
    def referenced_files(cls, params: P, project_root: Path) -> list[Path]:
        """The files these params make the component read by reference (a prompt template, a model file); the
        engine folds their content into the cache key, so editing one is a miss. Relative paths are resolved
        against ``project_root``; a file that does not exist is hashed as missing."""
        return []

    @classmethod
    def deterministic(cls, params: P) -> bool:
        """Whether the same params and inputs give the same outputs; False (sampling at a temperature above 0)
        means the stage is never served from the cache, as a cached sample would repeat itself."""
        return True


# A hook's params: contravariant, as each component's hook takes its own params model.
P_contra = TypeVar("P_contra", bound=ComponentParams, contravariant=True)


@runtime_checkable
class TokenWindowed(Protocol[P_contra]):
    """A component that reads at most a window of tokens of each text (an embedder). Declared by subclassing, so
    the planner can fit the chunkers that feed it."""

    @classmethod
    def token_window(cls, params: P_contra, resources: Mapping[str, tuple[type, ComponentParams]]) -> int | None:
        """How many tokens of a text the component reads with these params, special tokens included; None when
        unknown before it runs. ``resources`` maps each declared resource's name to its (type, settings)."""
        ...


@runtime_checkable
class WindowFitted(Protocol[P_contra]):
    """A component whose outputs can be made to fit a downstream token window (a chunker). Declared by subclassing."""

    @classmethod
    def fit_to_window(cls, params: P_contra, window: int, consumer: str) -> tuple[dict[str, Any], str] | None:
        """The `with` changes that make outputs fit ``window`` tokens of ``consumer``, and the note that says so;
        None when they fit already."""
        ...


@runtime_checkable
class FilesChecked(Protocol[P_contra]):
    """A component whose params name files it reads (a prompt template), checked when the file is validated
    rather than when a run reaches the stage. Declared by subclassing."""

    @classmethod
    def check_files(cls, params: P_contra, project_root: Path) -> list[tuple[str, str]]:
        """(param, problem) for each file the params name that is missing or does not fit the component."""
        ...


@runtime_checkable
class PipelinesNamed(Protocol[P_contra]):
    """A resource whose settings name pipelines of its file (a budget per pipeline), checked when the file is
    validated: a misspelt name would otherwise never match a run. Declared by subclassing."""

    @classmethod
    def named_pipelines(cls, settings: P_contra) -> list[tuple[tuple[str, ...], str]]:
        """(YAML path under `with`, name) of each pipeline the settings name."""
        ...


@runtime_checkable
class Presentable(Protocol):
    """An output value that says how it is shown; the engine calls these instead of guessing from field names.
    Values that are not Presentable are shown as a short repr.

    Declared by subclassing (``class Answer(Presentable)``), which also inherits the defaults of ``as_table`` and
    ``as_data``: a pipeline's final outputs are shown on its flow run as a table artifact when ``as_table()`` gives
    rows, else as a markdown artifact, and ``as_data()`` is what the flow run's persisted result holds."""

    def present(self) -> str:
        """Plain text for the terminal; one line is printed after the port's name, more lines below it."""
        ...

    def as_markdown(self) -> str:
        """Markdown for UI artifacts."""
        ...

    def as_table(self) -> list[dict[str, Any]] | None:
        """Rows for a table artifact, or None (the default) to be shown as ``as_markdown()``."""
        return None

    def as_data(self) -> Any:
        """JSON-able data for API callers (the flow run's result): by default a dataclass's fields."""
        if dataclasses.is_dataclass(self) and not isinstance(self, type):
            return dataclasses.asdict(self)
        return self.present()


class Checkable(ABC):
    """Base of output types that data-quality checks read as one row (an answer). ``check_kind`` is the port
    kind in the check catalog (flows.plan.checks: which built-in checks apply), ``check_row()`` the row's columns
    those checks read."""

    check_kind: ClassVar[str]

    @abstractmethod
    def check_row(self) -> dict[str, Any]:
        """The columns the checks of ``check_kind`` read."""

    def check_where(self) -> str:
        """What a failed check names as where it failed (a source and its counts); empty to name nothing."""
        return ""


def params_model(cls: type, generic: type, inherited: type[ComponentParams]) -> type[ComponentParams]:
    """The params model of ``cls``: its generic argument (``class X(Component[XParams])``), else ``inherited``.
    Declared once, it types ``self.params``; a nested ``Params`` class is refused as a second declaration."""
    if "Params" in vars(cls):
        raise ComponentError(
            f"{cls.__qualname__}: give the params model as the generic argument, "
            f"`class {cls.__name__}({generic.__name__}[{cls.__name__}Params])`, not as a nested Params class"
        )
    return _params_argument(cls, generic) or inherited


def _params_argument(cls: type, generic: type) -> type[ComponentParams] | None:
    """The params model given as ``Generic[X]`` (or ``SomeFamily[X]``) among the class's own bases."""
    for base in vars(cls).get("__orig_bases__", ()):
        origin = typing.get_origin(base)
        if not (isinstance(origin, type) and issubclass(origin, generic)):
            continue
        (argument,) = typing.get_args(base)
        if isinstance(argument, TypeVar):  # a generic family base (`_Embedder(Component[EP])`): use the bound
            argument = argument.__bound__
        if isinstance(argument, type) and issubclass(argument, ComponentParams):
            return argument
    return None


def run_method(cls: type) -> Callable[..., Any]:
    """The class's ``run``, which every component must define."""
    run = getattr(cls, "run", None)
    if not callable(run):
        raise ComponentError(f"{cls.__qualname__} defines no run() method; its typed parameters are the inputs")
    return run


def not_warmed_up(component: Component[Any]) -> ComponentError:
    """The error of a component run before ``warm_up()`` built its state (the engine always warms up first)."""
    return ComponentError(f"{component.name or type(component).__name__}: call warm_up() before run()")


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
        if p.name not in hints:
            raise ComponentError(f"{owner}: missing type hint for input '{p.name}' in {fn.__qualname__}")
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
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
