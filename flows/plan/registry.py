"""Find components: dagwright's own, third parties' (entry points) and the project's own ``components/`` folder."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from components.base import Component, ComponentError
from flows.entrypoints import may_declare
from flows.errors import RegistryError

ENTRY_POINT_GROUP = "dagwright.components"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
PROJECT_PACKAGE = "dagwright_project_components"


class Registry:
    """Every component visible from a project, by name.

    Built-ins are known by name from ``components/index.py`` and their module is imported on first use: importing
    all of them was about a third of `dagwright validate`'s start-up (bench/engine.py, issue 7). Entry points and
    a project's own folder are imported at once, so their errors and name clashes show as before.
    """

    def __init__(self) -> None:
        self.origins: dict[str, str] = {}  # name -> where it was found, for messages and `dagwright components`
        self._loaded: dict[str, type[Component]] = {}
        self._pending: dict[str, str] = {}  # built-in name -> its module, not imported yet

    def get(self, name: str) -> type[Component] | None:
        if name in self._pending:
            self._import_builtin(self._pending[name])
        elif name not in self._loaded:
            self._import_all()  # a class added to a built-in module before the index says so
        return self._loaded.get(name)

    def names(self) -> list[str]:
        return sorted(self.components)

    @property
    def components(self) -> dict[str, type[Component]]:
        self._import_all()
        return self._loaded

    def add_pending(self, name: str, module_name: str) -> None:
        self._claim(name, f"builtin {module_name}")
        self._pending[name] = module_name

    def add(self, origin: str, cls: type[Component]) -> None:
        _check(origin, cls)
        if self._loaded.get(cls.name) is cls:
            return
        if self._pending.get(cls.name) != cls.__module__:
            self._claim(cls.name, origin, cls)
        self._pending.pop(cls.name, None)
        self._loaded[cls.name] = cls

    def _claim(self, name: str, origin: str, cls: type[Component] | None = None) -> None:
        if name in self._pending and cls is not None:  # import the built-in so the message can name its class
            self._import_builtin(self._pending[name])
        if name in self.origins:
            known = self._loaded.get(name)
            raise RegistryError(
                f"component name '{name}' is defined twice: {self.origins[name]}"
                f"{f' ({known.__qualname__})' if known else ''} and {origin}"
                f"{f' ({cls.__qualname__})' if cls else ''}; rename one"
            )
        self.origins[name] = origin

    def _import_builtin(self, module_name: str) -> None:
        for origin, cls in _classes_in(_import(module_name), origin=f"builtin {module_name}"):
            self.add(origin, cls)

    def _import_all(self) -> None:
        for module_name in sorted(set(self._pending.values())):
            self._import_builtin(module_name)


_cache: dict[Path | None, Registry] = {}


def discover(project_root: Path | None = None) -> Registry:
    """All components visible from a project; memoized, since imports happen once per process anyway."""
    key = project_root.resolve() if project_root else None
    if key not in _cache:
        _cache[key] = _build(key)
    return _cache[key]


def _build(project_root: Path | None) -> Registry:
    if project_root and str(project_root) not in sys.path:
        # User glue code (python.call) and project components import relative to the project folder.
        sys.path.insert(0, str(project_root))
    registry = Registry()
    for origin, cls in _candidates(project_root, registry):
        registry.add(origin, cls)
    return registry


def _candidates(project_root: Path | None, registry: Registry) -> Iterator[tuple[str, type[Component]]]:
    import components as builtin

    yield from _builtin_candidates(builtin, registry)
    yield from _entry_point_classes()
    if project_root:
        folder = project_root / "components"
        if folder.is_dir() and not _same_folder(folder, Path(builtin.__path__[0])):
            for module in _import_folder(folder):
                yield from _classes_in(module, origin=f"project {module.__file__}")


def _builtin_candidates(package: ModuleType, registry: Registry) -> Iterator[tuple[str, type[Component]]]:
    """Index the listed modules' components without importing them; import the modules the index lacks."""
    from components.index import BUILTINS

    for module_name, names in BUILTINS.items():
        for name in names:
            registry.add_pending(name, module_name)
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        if info.name not in BUILTINS:
            yield from _classes_in(_import(info.name), origin=f"builtin {info.name}")


def _same_folder(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _walk_package(package: ModuleType) -> Iterator[ModuleType]:
    for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
        yield _import(info.name)


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:  # a user's module may fail in any way; say which and how
        raise RegistryError(f"cannot import component module '{module_name}': {type(exc).__name__}: {exc}") from None


def _import_folder(folder: Path) -> Iterator[ModuleType]:
    """Import a project's components/ folder that is not dagwright's own package, under a private name."""
    spec = importlib.util.spec_from_file_location(
        PROJECT_PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:  # pragma: no cover - only for unreadable folders
        return
    for name in [m for m in sys.modules if m == PROJECT_PACKAGE or m.startswith(f"{PROJECT_PACKAGE}.")]:
        del sys.modules[name]  # another project's components, loaded earlier in this process
    package = importlib.util.module_from_spec(spec)
    sys.modules[PROJECT_PACKAGE] = package
    if (folder / "__init__.py").exists():
        spec.loader.exec_module(package)
    yield from _walk_package(package)


def _entry_point_classes() -> Iterator[tuple[str, type[Component]]]:
    if not may_declare(ENTRY_POINT_GROUP):
        return  # importlib.metadata costs ~25 ms to import and scan (see flows/entrypoints.py)
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
        except Exception as exc:
            raise RegistryError(f"entry point '{ep.name} = {ep.value}' failed to load: {exc}") from None
        origin = f"entry point {ep.value}"
        if isinstance(target, ModuleType):
            yield from _classes_in(target, origin=origin)
        elif isinstance(target, type) and issubclass(target, Component):
            yield origin, target
        else:
            raise RegistryError(f"entry point '{ep.name} = {ep.value}' is neither a Component class nor a module")


def _classes_in(module: ModuleType, origin: str) -> Iterator[tuple[str, type[Component]]]:
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Component)
            and value.__module__ == module.__name__
            and value.name
        ):
            yield origin, value


def _check(origin: str, cls: type[Component]) -> None:
    if not NAME_PATTERN.match(cls.name):
        raise RegistryError(f"{origin}: component name '{cls.name}' must look like 'family.variant' (lowercase)")
    if cls.has_static_ports():
        try:  # static ports: check the type hints now rather than at the first run
            cls.ports(cls.Params.model_construct())
        except ComponentError as exc:
            raise RegistryError(f"{origin}: {exc}") from None
