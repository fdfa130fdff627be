"""Small file trees for tests: a corpus folder, a project with components, a site-packages with a dist-info."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> dedented text) under ``root``, creating folders; return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
    return root


def shipped_project(root: Path) -> Path:
    """A copy of the repository's own project (pipelines.yaml, prompts, docs) in ``root``."""
    import shutil

    from tests.conftest import REPO

    root.mkdir(parents=True)
    shutil.copy(REPO / "pipelines.yaml", root)
    shutil.copytree(REPO / "prompts", root / "prompts")
    shutil.copytree(REPO / "docs", root / "docs")
    return root
