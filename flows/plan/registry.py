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
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from components.base import Component, ComponentError, ports_of_callable, run_method
from components.haystack import ALIASES, HAYSTACK_SCHEME, haystack_stage
from components.resources import Resource
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


@dataclass(frozen=True)
class Registry:
    components: dict[str, type[Component]]
    origins: dict[str, str]  # name -> where it was found, for messages and `dagwright components`
    resource_types: dict[str, type[Resource]] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=lambda: ALIASES)  # short name -> Haystack class path

    def get(self, name: str) -> type[Component] | None:
        return self.components.get(name)

    def names(self) -> list[str]:
        return sorted(self.components)

    def resource_type(self, name: str) -> type[Resource] | None:
        return self.resource_types.get(name)

    def resolve(self, uses: str) -> type[Component]:
        """The component a stage's ``uses`` names; raises RegistryError saying what exists instead."""
        if uses.startswith(HAYSTACK_SCHEME) or uses in self.aliases:
            return _haystack(self.aliases.get(uses) or uses.removeprefix(HAYSTACK_SCHEME))
        cls = self.components.get(uses)
        if cls is None:
            hint = did_you_mean(uses, [*self.components, *self.aliases])
            raise RegistryError(f"unknown component '{uses}'{hint}; `dagwright components` lists those available")
        return cls


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
    found: dict[str, type[Component]] = {}
    origins: dict[str, str] = {}
    resource_types: dict[str, type[Resource]] = {}
    for origin, cls in _candidates(project_root):
        if issubclass(cls, Resource):
            _register_resource(resource_types, origins, origin, cls)
        else:
            _register(found, origins, origin, cls)
    return Registry(found, origins, resource_types)


def _candidates(project_root: Path | None) -> Iterator[tuple[str, type[Any]]]:
    import components

    # `components` is a project's own package when it shadows dagwright's: walk both, each labelled by its file.
    folders = sorted({BUILTIN_DIR, *(Path(p).resolve() for p in components.__path__)})
    for module in _walk_folders(folders, "components"):
        yield from _classes_in(module, origin=_origin(module))
    yield from _entry_point_classes()
    if project_root:
        folder = project_root / "components"
        if folder.is_dir() and folder.resolve() not in folders:
            for module in _import_folder(folder):
                yield from _classes_in(module, origin=_origin(module))


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


def _register_resource(
    found: dict[str, type[Resource]], origins: dict[str, str], origin: str, cls: type[Resource]
) -> None:
    if not NAME_PATTERN.match(cls.name):
        raise RegistryError(f"{origin}: resource type '{cls.name}' must look like 'family.variant' (lowercase)")
    if cls.name in found and found[cls.name] is not cls:
        raise RegistryError(
            f"resource type '{cls.name}' is defined twice: {origins['resource:' + cls.name]} "
            f"({found[cls.name].__qualname__}) and {origin} ({cls.__qualname__}); rename one"
        )
    found[cls.name] = cls
    origins["resource:" + cls.name] = origin


def _register(found: dict[str, type[Component]], origins: dict[str, str], origin: str, cls: type[Component]) -> None:
    if not NAME_PATTERN.match(cls.name):
        raise RegistryError(f"{origin}: component name '{cls.name}' must look like 'family.variant' (lowercase)")
    if cls.name in ALIASES:
        raise RegistryError(
            f"{origin}: component name '{cls.name}' is taken by an alias of haystack:{ALIASES[cls.name]}"
        )
    if cls.name in found and found[cls.name] is not cls:
        raise RegistryError(
            f"component name '{cls.name}' is defined twice: {origins[cls.name]} ({found[cls.name].__qualname__})"
            f" and {origin} ({cls.__qualname__}); rename one"
        )
    try:  # check run()'s type hints now rather than at the first run (they are the static ports too)
        ports_of_callable(run_method(cls), owner=cls.name, skip_first=True)
    except ComponentError as exc:
        raise RegistryError(f"{origin}: {exc}") from None
    found[cls.name] = cls
    origins[cls.name] = origin
