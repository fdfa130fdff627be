"""Find components: dagwright's own, third parties' (entry points) and the project's own ``components/`` folder."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from components.base import Component, ComponentError, ports_of_callable, run_method
from components.haystack import ALIASES, HAYSTACK_SCHEME, haystack_stage
from components.resources import Resource
from flows.entrypoints import may_declare
from flows.errors import RegistryError
from flows.language.load import did_you_mean

ENTRY_POINT_GROUP = "dagwright.components"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
PROJECT_PACKAGE = "dagwright_project_components"
# dagwright's own components/ folder. Found from the base class's file rather than from `import components`:
# run as `python -m` from a project folder, that import finds the project's own components/ package first.
BUILTIN_DIR = Path(inspect.getfile(Component)).resolve().parent
# `haystack:` names a class to import: only these modules may be named, so a pipelines file cannot run
# arbitrary code (`haystack:os.system`). `components.` is the project's own components folder.
HAYSTACK_ALLOWED = ("haystack.", "haystack_integrations.", "components.")

T = TypeVar("T")


@dataclass
class _Kind(Generic[T]):
    """The classes of one kind (components or resource types) by name; built-ins may not be imported yet."""

    noun: str  # for messages: 'component name', 'resource type'
    key: str  # prefix of its names in Registry.origins, where both kinds are kept
    loaded: dict[str, type[T]] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)  # built-in name -> its module, not imported yet


class Registry:
    """Every component and resource type visible from a project, by name.

    Built-ins are known by name from ``components/index.py`` and their module is imported on first use: importing
    all of them was about a third of `dagwright validate`'s start-up (bench/engine.py, issue 7). Entry points and
    a project's own folder are imported at once, so their errors and name clashes show as before.
    """

    def __init__(self, aliases: Mapping[str, str] = ALIASES) -> None:
        self.origins: dict[str, str] = {}  # name -> where it was found, for messages and `dagwright components`
        self.aliases = aliases  # short name -> Haystack class path
        self._components = _Kind[Component]("component name", "")
        self._resources = _Kind[Resource]("resource type", "resource:")

    def get(self, name: str) -> type[Component] | None:
        return self._lookup(self._components, name)

    def resource_type(self, name: str) -> type[Resource] | None:
        return self._lookup(self._resources, name)

    def names(self) -> list[str]:
        return sorted(self.components)

    @property
    def components(self) -> dict[str, type[Component]]:
        self._import_all()
        return self._components.loaded

    @property
    def resource_types(self) -> dict[str, type[Resource]]:
        self._import_all()
        return self._resources.loaded

    def resolve(self, uses: str) -> type[Component]:
        """The component a stage's ``uses`` names; raises RegistryError saying what exists instead."""
        if uses.startswith(HAYSTACK_SCHEME) or uses in self.aliases:
            return _haystack(self.aliases.get(uses) or uses.removeprefix(HAYSTACK_SCHEME))
        cls = self.get(uses)
        if cls is None:
            hint = did_you_mean(uses, [*self.components, *self.aliases])
            raise RegistryError(f"unknown component '{uses}'{hint}; `dagwright components` lists those available")
        return cls

    def add_pending(self, name: str, module_name: str, *, resource_type: bool = False) -> None:
        """A built-in listed in components/index.py, imported when first looked up."""
        kind: _Kind[Any] = self._resources if resource_type else self._components
        self._claim(kind, name, f"builtin {module_name}")
        kind.pending[name] = module_name

    def add(self, origin: str, cls: type[Component] | type[Resource]) -> None:
        kind: _Kind[Any] = self._resources if issubclass(cls, Resource) else self._components
        _check(origin, cls)
        if kind.loaded.get(cls.name) is cls:
            return
        if kind.pending.get(cls.name) != cls.__module__:
            self._claim(kind, cls.name, origin, cls)
        kind.pending.pop(cls.name, None)
        kind.loaded[cls.name] = cls

    def _lookup(self, kind: _Kind[T], name: str) -> type[T] | None:
        if name in kind.pending:
            self._import_builtin(kind.pending[name])
        elif name not in kind.loaded:
            self._import_all()  # a class added to a built-in module before the index says so
        return kind.loaded.get(name)

    def _claim(self, kind: _Kind[Any], name: str, origin: str, cls: type[Any] | None = None) -> None:
        if kind is self._components and name in self.aliases:
            alias = f"haystack:{self.aliases[name]}"
            raise RegistryError(f"{origin}: component name '{name}' is taken by an alias of {alias}")
        if name in kind.pending and cls is not None:  # import the built-in so the message can name its class
            self._import_builtin(kind.pending[name])
        if kind.key + name in self.origins:
            known = kind.loaded.get(name)
            raise RegistryError(
                f"{kind.noun} '{name}' is defined twice: {self.origins[kind.key + name]}"
                f"{f' ({known.__qualname__})' if known else ''} and {origin}"
                f"{f' ({cls.__qualname__})' if cls else ''}; rename one"
            )
        self.origins[kind.key + name] = origin

    def _import_builtin(self, module_name: str) -> None:
        for origin, cls in _classes_in(_import(module_name), origin=f"builtin {module_name}"):
            self.add(origin, cls)

    def _import_all(self) -> None:
        modules = {*self._components.pending.values(), *self._resources.pending.values()}
        for module_name in sorted(modules):
            self._import_builtin(module_name)


def _haystack(path: str) -> type[Component]:
    """A Haystack component class by path, imported only when its module is allowed and Haystack is needed."""
    if not path.startswith(HAYSTACK_ALLOWED):
        haystack, integrations, project = HAYSTACK_ALLOWED
        raise RegistryError(
            f"'{HAYSTACK_SCHEME}{path}' is not allowed: only classes under '{haystack}', '{integrations}' or the "
            f"project's '{project}' can be named, so a pipelines file cannot import arbitrary code"
        )
    try:
        return haystack_stage(_project_module(path))
    except ComponentError as exc:
        raise RegistryError(str(exc)) from None


def _project_module(path: str) -> str:
    """`components.x.Y` of a project lives in its components folder, imported under a private package name."""
    if path.startswith("components.") and PROJECT_PACKAGE in sys.modules:
        module = path.rpartition(".")[0].replace("components", PROJECT_PACKAGE, 1)
        if importlib.util.find_spec(module) is not None:
            return path.replace("components", PROJECT_PACKAGE, 1)
    return path


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


def _candidates(project_root: Path | None, registry: Registry) -> Iterator[tuple[str, type[Any]]]:
    import components

    # `components` is a project's own package when it shadows dagwright's: walk both, each labelled by its file.
    folders = sorted({BUILTIN_DIR, *(Path(p).resolve() for p in components.__path__)})
    yield from _builtin_candidates(folders, registry)
    yield from _entry_point_classes()
    if project_root:
        folder = project_root / "components"
        if folder.is_dir() and folder.resolve() not in folders:
            for module in _import_folder(folder):
                yield from _classes_in(module, origin=_origin(module))


def _builtin_candidates(folders: list[Path], registry: Registry) -> Iterator[tuple[str, type[Any]]]:
    """Index the listed built-in modules without importing them; import every other module of the folders."""
    from components.index import BUILTINS, RESOURCE_TYPES

    for index, resource_type in ((BUILTINS, False), (RESOURCE_TYPES, True)):
        for module_name, names in index.items():
            for name in names:
                registry.add_pending(name, module_name, resource_type=resource_type)
    for info in pkgutil.walk_packages([str(f) for f in folders], prefix="components."):
        if info.name in BUILTINS and _folder_of(info).is_relative_to(BUILTIN_DIR):
            continue
        module = _import(info.name)
        yield from _classes_in(module, origin=_origin(module))


def _folder_of(info: pkgutil.ModuleInfo) -> Path:
    return Path(getattr(info.module_finder, "path", "")).resolve()


def _origin(module: ModuleType) -> str:
    """'builtin <module>' for dagwright's own components, 'project <file>' for any other folder's."""
    file = Path(module.__file__ or "").resolve()
    return f"builtin {module.__name__}" if file.is_relative_to(BUILTIN_DIR) else f"project {module.__file__}"


def _walk_folders(folders: list[Path], package: str) -> Iterator[ModuleType]:
    for info in pkgutil.walk_packages([str(f) for f in folders], prefix=f"{package}."):
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
    yield from _walk_folders([folder], PROJECT_PACKAGE)


def _entry_point_classes() -> Iterator[tuple[str, type[Any]]]:
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
        elif isinstance(target, type) and issubclass(target, Component | Resource):
            yield origin, target
        else:
            raise RegistryError(f"entry point '{ep.name} = {ep.value}' is neither a Component class nor a module")


def _classes_in(module: ModuleType, origin: str) -> Iterator[tuple[str, type[Any]]]:
    """Components and resource types defined in ``module`` (abstract bases have no name and are skipped)."""
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Component | Resource)
            and value.__module__ == module.__name__
            and value.name
            and not inspect.isabstract(value)
        ):
            yield origin, value


def _check(origin: str, cls: type[Component] | type[Resource]) -> None:
    noun = "resource type" if issubclass(cls, Resource) else "component name"
    if not NAME_PATTERN.match(cls.name):
        raise RegistryError(f"{origin}: {noun} '{cls.name}' must look like 'family.variant' (lowercase)")
    if issubclass(cls, Resource):
        return
    try:  # check run()'s type hints now rather than at the first run (they are the static ports too)
        ports_of_callable(run_method(cls), owner=cls.name, skip_first=True)
    except ComponentError as exc:
        raise RegistryError(f"{origin}: {exc}") from None
