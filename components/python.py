"""Glue code: a stage that calls a plain Python function."""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from pydantic import Field, field_validator

from components.base import Component, ComponentError, ComponentParams, Ports, ports_of_callable


class PythonCallParams(ComponentParams):
    function: str = Field(description="`package.module:function`, importable from the project folder.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Constant keyword arguments.")

    @field_validator("function")
    @classmethod
    def _module_colon_attr(cls, value: str) -> str:
        module, _, attr = value.partition(":")
        if not module or not attr:
            raise ValueError(f"expected 'package.module:function', got '{value}'")
        return value


class PythonCall(Component[PythonCallParams]):
    """Calls ``module:function`` with its inputs wired from other stages and constant ``kwargs``.

    The function's type-hinted parameters become the stage's input ports; its return annotation becomes the
    output (a dataclass's fields, or one port named ``output``). Its source is part of the cache key, so editing
    the function invalidates cached results.

    Example:

    ```yaml
    uses: python.call
    with:
      function: components.glue:word_stats
      kwargs: {top: 5}
    inputs:
      documents: read.output
    ```
    """

    name = "python.call"

    @classmethod
    def ports(cls, params: PythonCallParams) -> Ports:
        fn = load_callable(params.function)
        ports = ports_of_callable(fn, owner=f"python.call {params.function}")
        unknown = sorted(set(params.kwargs) - set(ports.inputs))
        if unknown:
            raise ComponentError(f"{params.function} takes no argument(s) {unknown}; it takes {sorted(ports.inputs)}")
        # Constant kwargs are not ports: nothing upstream may wire them.
        inputs = {k: v for k, v in ports.inputs.items() if k not in params.kwargs}
        return Ports(MappingProxyType(inputs), ports.outputs, ports.dataclass_output)

    @classmethod
    def code_modules(cls, params: PythonCallParams) -> tuple[str, ...]:
        """Its own module and the function's: an edited helper that the function's module imports is a miss."""
        return (cls.__module__, params.function.partition(":")[0])

    @classmethod
    def fingerprint(cls, params: PythonCallParams) -> str:
        try:
            source = inspect.getsource(load_callable(params.function))
        except (OSError, TypeError):  # built-ins and C functions have no source
            source = params.function
        return hashlib.sha256(source.encode()).hexdigest()

    def run(self, **inputs: Any) -> Any:
        fn = load_callable(self.params.function)
        return fn(**inputs, **self.params.kwargs)


def load_callable(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ComponentError(f"cannot import module '{module_name}': {exc}") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ComponentError(f"module '{module_name}' has no attribute '{attr}'")
        target = getattr(target, part)
    if not callable(target):
        raise ComponentError(f"'{spec}' is not callable")
    return target
