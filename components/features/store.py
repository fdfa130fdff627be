"""`feast.store`: a Feast feature repo (feature_store.yaml plus its definitions) opened as a FeatureStore.

Its embedded default is what `feature_repo/feature_store.yaml` says (SQLite online store, DuckDB offline store,
a local registry, all under `feature_repo/data/`), so `feast -c feature_repo ...` and dagwright read the same
state. With ``redis_url`` the online store is that Redis instead (the `prod` profile), given as
``${env:DAGWRIGHT_FEAST_REDIS_URL}`` so the URL, which may carry a password, is never in the YAML or any output.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator

from components.base import ComponentParams, PermanentError
from components.resources import Resource

# Feast's repo parser imports the repo's files under module names taken from their path relative to the working
# folder (which `feast apply` changes to the repo). Changing the working folder would move every other thread's
# relative paths, so the parser is given names relative to the repo instead, one parse at a time.
_PARSE_LOCK = threading.Lock()
T = TypeVar("T")


class FeatureStoreError(PermanentError):
    """The feature repo or a request to it is wrong (a missing repo, an unknown feature view, a bad entity
    frame); the message names the store and what exists."""


class FeastSettings(ComponentParams):
    repo: str = Field("feature_repo", min_length=1, description="The Feast repo folder (with feature_store.yaml).")
    redis_url: str | None = Field(
        None,
        description="Serve online features from this Redis (redis://[:PASSWORD@]HOST:6379/DB) instead of the "
        "repo's online store; use ${env:NAME}.",
    )

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, url: str | None) -> str | None:
        # Feast's Redis store connects over TCP only. The URL may carry a password: the message never quotes it.
        if url is not None and not url.startswith(("redis://", "rediss://")):
            raise ValueError("expected a Redis URL starting with redis:// or rediss://")
        return url


def redis_connection_string(url: str) -> str:
    """Feast's Redis connection string (``host:port,db=N,password=...``) for a redis:// URL."""
    parts = urlsplit(url)
    found = [f"{parts.hostname or 'localhost'}:{parts.port or 6379}"]
    db = parts.path.lstrip("/")
    if db:
        found.append(f"db={int(db)}")
    if parts.username:
        found.append(f"username={unquote(parts.username)}")
    if parts.password:
        found.append(f"password={unquote(parts.password)}")
    if parts.scheme == "rediss":
        found.append("ssl=true")
    return ",".join(found)


class FeastStore(Resource[FeastSettings]):
    """A Feast feature store, opened once per process; Feast (~8 s to import) is imported here, never by
    `dagwright validate`.

    ```yaml
    resources:
      features: {uses: feast.store, with: {repo: feature_repo}}
    ```
    """

    name = "feast.store"
    kind = "feature store"

    def open(self) -> None:
        from feast import FeatureStore

        self.repo_path = self.context.path(self.params.repo).resolve()
        if not (self.repo_path / "feature_store.yaml").is_file():
            raise FeatureStoreError(f"{self.label}: no feature_store.yaml in {self.repo_path}")
        self.store: Any = FeatureStore(repo_path=str(self.repo_path), config=self._config())
        self._remembered: dict[Any, tuple[float, Any]] = {}

    def remembered(self, key: Any, make: Callable[[], T]) -> T:
        """``make()``, kept for as long as Feast keeps its registry cached (``cache_ttl_seconds``, 600 by default):
        values derived from the registry cost 8-18 ms to list again, more than the online lookup itself
        (bench/features.py), and are as fresh as Feast's own view of the registry."""
        ttl = self.store.config.registry.cache_ttl_seconds
        now = time.monotonic()
        found = self._remembered.get(key)
        if found is None or now - found[0] > ttl:
            found = (now, make())
            self._remembered[key] = found
        return found[1]

    @property
    def label(self) -> str:
        return f"feast.store '{self.params.repo}'"

    @property
    def online_store(self) -> str:
        return "redis" if self.params.redis_url else str(self.store.config.online_store.type)

    def _config(self) -> Any:
        import yaml
        from feast.repo_config import RepoConfig

        text = (self.repo_path / "feature_store.yaml").read_text(encoding="utf-8")
        raw = yaml.safe_load(os.path.expandvars(text))  # as Feast's own loader reads it
        if self.params.redis_url:
            raw["online_store"] = {"type": "redis", "connection_string": redis_connection_string(self.params.redis_url)}
        config = RepoConfig(**raw)
        config.repo_path = self.repo_path
        return config

    def repo_contents(self) -> Any:
        """The Feast objects the repo's Python files define, parsed as `feast apply` parses them."""

        from feast import repo_operations

        files = repo_operations.get_repo_files(self.repo_path)
        names = {f: f.relative_to(self.repo_path).with_suffix("").as_posix().replace("/", ".") for f in files}
        with _PARSE_LOCK:
            original, path_before = repo_operations.py_path_to_module, list(sys.path)
            repo_operations.py_path_to_module = names.__getitem__  # type: ignore[assignment]
            sys.path.insert(0, str(self.repo_path))
            for name in names.values():  # a module of that name from another repo would be reused, not read
                sys.modules.pop(name, None)
            try:
                contents = repo_operations.parse_repo(self.repo_path)
            finally:
                repo_operations.py_path_to_module = original
                sys.path[:] = path_before
        if not contents.projects:  # as `feast apply` does: the project is feature_store.yaml's
            from feast.project import Project

            contents.projects.append(Project(name=self.store.project))
        return contents
