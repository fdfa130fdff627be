"""Shared fixtures. Tests never touch the developer's .dagwright/: each gets its own DAGWRIGHT_HOME."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagwright-home"
    monkeypatch.setenv("DAGWRIGHT_HOME", str(home))
    return home


@pytest.fixture
def write_pipelines(tmp_path: Path):
    """Write a pipelines.yaml (dedented) into a fresh project folder and return its path."""

    def write(text: str, name: str = "pipelines.yaml") -> Path:
        path = tmp_path / "project" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return write
