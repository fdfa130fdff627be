"""components/index.py must name every module of the package and exactly the components and resource types each
one defines."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import components
from components.base import Component
from components.index import BUILTINS, RESOURCE_TYPES
from components.resources import Resource


def defined_in(module_name: str, kind: type) -> tuple[str, ...]:
    module = importlib.import_module(module_name)
    found = [
        v.name
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, kind)
        and v.__module__ == module_name
        and v.name
        and not inspect.isabstract(v)
    ]
    return tuple(sorted(found))


MODULES = [info.name for info in pkgutil.walk_packages(components.__path__, prefix="components.")]


def test_index_matches_the_package() -> None:
    assert sorted(BUILTINS) == sorted(MODULES), "add the new module to components/index.py"
    assert {m: defined_in(m, Component) for m in MODULES} == {m: tuple(sorted(n)) for m, n in BUILTINS.items()}


def test_resource_types_index_matches_the_package() -> None:
    found = {m: names for m in MODULES if (names := defined_in(m, Resource))}
    assert found == {m: tuple(sorted(n)) for m, n in RESOURCE_TYPES.items()}
