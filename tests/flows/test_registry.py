"""Component discovery: built-ins, a project's components/ folder, entry points, and the errors on conflicts."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flows.errors import RegistryError
from flows.execute.local import run_local
from flows.language.load import load
from flows.plan.planner import plan_pipeline
from flows.plan.registry import discover
from tests.helpers.files import write_tree

COMPONENT = '''
from dataclasses import dataclass
from components.base import Component, ComponentParams


@dataclass
class Shout:
    text: str
    length: int


class ShoutParams(ComponentParams):
    suffix: str = "!"


class ShoutText(Component[ShoutParams]):
    """Upper-cases a text."""

    name = "{name}"

    def run(self, text: str) -> Shout:
        loud = text.upper() + self.params.suffix
        return Shout(loud, len(loud))
'''


def test_builtins_are_registered() -> None:
    names = discover().names()
    assert {"loader.files", "python.call", "sink.json"} <= set(names)


def test_project_components_folder_is_discovered_and_runs(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "proj",
        {
            "components/__init__.py": "",
            "components/shout.py": COMPONENT.format(name="text.shout"),
            "pipelines.yaml": """
            pipelines:
              p:
                params: {word: hi}
                stages:
                  shout:
                    uses: text.shout
                    with: {suffix: "?"}
                    inputs: {text: "${params.word}"}
        """,
        },
    )
    registry = discover(root)
    assert registry.origins["text.shout"].startswith("project ")
    plan = plan_pipeline(load(root / "pipelines.yaml"), "p", registry)
    result = run_local(plan, {"word": "hey"})
    assert result.output("shout", "text") == "HEY?" and result.output("shout", "length") == 4


def test_duplicate_component_names_are_an_error(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "dup",
        {
            "components/one.py": COMPONENT.format(name="text.shout"),
            "components/two.py": COMPONENT.format(name="text.shout"),
        },
    )
    with pytest.raises(RegistryError, match="component name 'text.shout' is defined twice: project .*one.py"):
        discover(root)


def test_a_project_component_may_not_take_a_builtin_name(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "clash", {"components/mine.py": COMPONENT.format(name="loader.files")})
    with pytest.raises(RegistryError, match="'loader.files' is defined twice: builtin components.loaders"):
        discover(root)


def project_with(tmp_path: Path, component: str) -> Path:
    """A project whose components/ folder holds one module, ``component`` (dedented)."""
    header = "from typing import Any\nfrom components.base import Component, ComponentParams\n"
    return write_tree(tmp_path / "proj", {"components/mine.py": header + textwrap.dedent(component)})


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ("def run(self, text) -> str: ...", "missing type hint for input 'text' in Bad.run"),
        ("def run(self, text: str): ...", "missing return type hint in Bad.run"),
        ("def run(self, **inputs) -> str: ...", "missing type hint for input 'inputs' in Bad.run"),
        ("def go(self, text: str) -> str: ...", "Bad defines no run() method"),
        ("run = 3", "Bad defines no run() method"),
    ],
)
def test_run_must_exist_with_type_hints(tmp_path: Path, run: str, message: str) -> None:
    root = project_with(
        tmp_path,
        f"""
        class Bad(Component[ComponentParams]):
            name = "text.bad"

            {run}
        """,
    )
    with pytest.raises(RegistryError, match=f"project .*mine.py: (text.bad: )?{re.escape(message)}"):
        discover(root)


def test_params_come_from_the_generic_argument(tmp_path: Path) -> None:
    root = project_with(
        tmp_path,
        """
        class LoudParams(ComponentParams):
            times: int = 2

        class Loud(Component[LoudParams]):
            name = "text.loud"

            def run(self, text: str) -> str:
                return text * self.params.times

        class Louder(Loud):
            name = "text.louder"
        """,
    )
    registry = discover(root)
    for name in ("text.loud", "text.louder"):
        cls = registry.components[name]
        assert cls.Params.__name__ == "LoudParams" and cls().run("a") == "aa"


def test_a_nested_params_class_is_refused_with_the_generic_form(tmp_path: Path) -> None:
    root = project_with(
        tmp_path,
        """
        class Old(Component):
            name = "text.old"

            class Params(ComponentParams):
                times: int = 2

            def run(self, text: str) -> str:
                return text
        """,
    )
    with pytest.raises(RegistryError, match=re.escape("`class Old(Component[OldParams])`, not as a nested Params")):
        discover(root)


def test_bad_name_is_an_error(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "name", {"components/bad.py": COMPONENT.format(name="Shout")})
    with pytest.raises(RegistryError, match="must look like 'family.variant'"):
        discover(root)


def test_broken_module_is_reported_with_its_name(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "broken", {"components/oops.py": "def broken(:\n"})
    with pytest.raises(RegistryError, match="cannot import component module 'dagwright_project_components.oops'"):
        discover(root)


def install_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, component: str) -> None:
    """A distribution on sys.path whose dagwright.components entry point is ``module``, defining ``component``."""
    site = write_tree(
        tmp_path / "site",
        {
            f"{module}.py": COMPONENT.format(name=component),
            f"{module}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n",
            f"{module}-1.0.dist-info/entry_points.txt": f"[dagwright.components]\nplugin = {module}\n",
        },
    )
    monkeypatch.syspath_prepend(str(site))


def test_entry_point_components_are_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_entry_point(tmp_path, monkeypatch, "thirdparty_shout", "text.third")
    registry = discover(tmp_path / "elsewhere")
    assert registry.origins["text.third"] == "entry point thirdparty_shout"
    sys.modules.pop("thirdparty_shout", None)


def test_a_builtin_is_imported_on_first_use_and_listing_imports_all() -> None:
    from flows.plan.registry import Registry

    registry = Registry()
    registry.add_pending("sink.json", "components.sinks")
    assert registry.origins == {"sink.json": "builtin components.sinks"}
    assert registry.get("sink.json").__name__ == "JsonSink"
    assert registry.get("sink.nope") is None and registry.names() == ["sink.json"]


def test_a_builtin_resource_type_is_imported_on_first_use() -> None:
    from flows.plan.registry import Registry

    registry = Registry()
    registry.add_pending("store.memory", "components.stores.memory", resource_type=True)
    assert registry.origins == {"resource:store.memory": "builtin components.stores.memory"}
    assert registry.resource_type("store.memory").__name__ == "MemoryStore"
    assert registry.resource_type("store.nope") is None and registry.names() == []


def test_an_index_name_may_not_take_a_haystack_alias() -> None:
    from flows.plan.registry import Registry

    with pytest.raises(RegistryError, match="builtin components.x: component name 'haystack.cleaner' is taken by"):
        Registry().add_pending("haystack.cleaner", "components.x")


def test_an_entry_point_may_not_take_a_builtin_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_entry_point(tmp_path, monkeypatch, "thirdparty_clash", "sink.json")
    with pytest.raises(RegistryError, match=r"'sink.json' is defined twice: builtin components.sinks \(JsonSink\)"):
        discover(tmp_path / "clash-elsewhere")
    sys.modules.pop("thirdparty_clash", None)


def test_project_components_are_labelled_project_even_when_the_project_shadows_the_components_package(
    tmp_path: Path,
) -> None:
    """`python -m flows.cli` from a project folder puts that folder first on sys.path, so `import components`
    finds the project's package: its modules are still the project's, not builtins."""
    root = write_tree(
        tmp_path / "proj",
        {
            "components/__init__.py": "",
            "components/shout.py": COMPONENT.format(name="text.shout"),
            "pipelines.yaml": "pipelines: {}\n",
        },
    )
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "components"], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    labels = dict(re.findall(r"^(\S+)  \(v\d+, (.+)\)$", done.stdout, re.M))
    assert labels["text.shout"] == f"project {root / 'components' / 'shout.py'}"
    assert labels["loader.files"] == "builtin components.loaders"


def test_a_component_may_not_take_a_haystack_alias(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "proj", {"components/__init__.py": "", "components/c.py": COMPONENT.format(name="haystack.cleaner")}
    )
    with pytest.raises(RegistryError, match="component name 'haystack.cleaner' is taken by an alias of haystack:"):
        discover(root)
