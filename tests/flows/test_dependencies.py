"""What a cache key reads besides params and inputs: the closure of project modules, file hashes, versions."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.execute.dependencies import code_files, code_hash, file_hash, library_version
from tests.helpers.files import write_tree


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = write_tree(
        tmp_path / "proj",
        {
            "dwpkg/__init__.py": "",
            "dwpkg/a.py": "def f():\n    from .b import g  # lazy, in a function\n    return g()\n",
            "dwpkg/b.py": "import dwtop\n\n\ndef g():\n    return dwtop.h()\n",
            "dwtop.py": "import json\nimport dwvenvlib\n\n\ndef h():\n    return json.dumps(1)\n",
            ".venv/lib/site-packages/dwvenvlib.py": "X = 1\n",
        },
    )
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.syspath_prepend(str(root / ".venv/lib/site-packages"))
    yield root
    for name in [m for m in sys.modules if m.startswith(("dwpkg", "dwtop", "dwvenvlib"))]:
        del sys.modules[name]


def test_the_closure_follows_relative_lazy_and_top_level_imports_within_the_roots(root: Path) -> None:
    files = code_files("dwpkg.a", (root,))
    assert set(files) == {"dwpkg.a", "dwpkg", "dwpkg.b", "dwtop"}  # not json, not the .venv's library
    assert "dwpkg.a" not in sys.modules  # found by reading, not importing


def test_the_code_hash_changes_with_any_file_of_the_closure_and_only_then(root: Path) -> None:
    before = code_hash("dwpkg.a", (root,))
    assert code_hash("dwpkg.a", (root,)) == before
    (root / ".venv/lib/site-packages/dwvenvlib.py").write_text("X = 2\n")
    assert code_hash("dwpkg.a", (root,)) == before
    (root / "dwtop.py").write_text((root / "dwtop.py").read_text() + "# edited\n")
    assert code_hash("dwpkg.a", (root,)) != before


def test_a_missing_file_and_library_are_named_so() -> None:
    assert file_hash("/nonexistent/prompt.yaml") == "missing"
    assert library_version("dw-no-such-distribution") == "not installed"
