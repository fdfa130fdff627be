"""components/index.py must name every module of the package and exactly the components each one defines."""

from __future__ import annotations

import importlib
import pkgutil

import components
from components.base import Component
from components.index import BUILTINS


def defined_in(module_name: str) -> tuple[str, ...]:
    module = importlib.import_module(module_name)
    found = [
        v.name
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Component) and v.__module__ == module_name and v.name
    ]
    return tuple(sorted(found))


def test_index_matches_the_package() -> None:
    modules = [info.name for info in pkgutil.walk_packages(components.__path__, prefix="components.")]
    assert sorted(BUILTINS) == sorted(modules), "add the new module to components/index.py"
    assert {m: defined_in(m) for m in modules} == {m: tuple(sorted(n)) for m, n in BUILTINS.items()}
