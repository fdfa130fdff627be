"""`mlflow.registry`: the MLflow tracking server and model registry that classifier pipelines log to, register
versions in and load versions from, by alias (`champion`, `challenger`).

Without settings it is MLflow on SQLite under the state directory (`.dagwright/mlflow/mlflow.db`, artifacts in
`.dagwright/mlflow/artifacts`), so `mlflow ui --backend-store-uri sqlite:///.dagwright/mlflow/mlflow.db` shows the
same runs, versions and aliases. In production `tracking_uri` names a database (`${env:DAGWRIGHT_MLFLOW_URI}`,
e.g. `postgresql+psycopg://user:pass@host/db`) and `artifacts` a shared folder or object store.

MLflow is imported in `open()` only (~3 s): `dagwright validate` never pays for it. The registry is used through
`MlflowClient`; only `log_model` needs MLflow's global tracking URI, set under a lock for that call.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from components.base import ComponentParams, PermanentError
from components.resources import Resource

if TYPE_CHECKING:
    from mlflow import MlflowClient

CHAMPION, CHALLENGER = "champion", "challenger"
_GLOBAL_URI = threading.Lock()  # log_model reads MLflow's process-wide tracking URI


class RegistryError(PermanentError, LookupError):
    """A model, version or alias that the registry does not hold; a retry would not find it either."""


class MlflowSettings(ComponentParams):
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking + registry store: sqlite:///..., postgresql+psycopg://... or http(s)://; "
        "default: SQLite in the state directory (.dagwright/mlflow/mlflow.db).",
    )
    artifacts: str | None = Field(
        None, description="Where new experiments keep artifacts (a folder or URI); default: beside the database."
    )


class MlflowRegistry(Resource[MlflowSettings]):
    """MLflow's tracking store and model registry, opened once per process.

    Example:

    ```yaml
    resources:
      models: {uses: mlflow.registry}
    ```
    """

    name = "mlflow.registry"
    kind = "model registry"

    def open(self) -> None:
        from mlflow import MlflowClient

        self.uri = self.params.tracking_uri or _sqlite_uri(self.context.state_dir / "mlflow")
        self.artifact_root = self.params.artifacts or str(self.context.state_dir / "mlflow" / "artifacts")
        self.client: MlflowClient = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def experiment_id(self, name: str) -> str:
        """The experiment called ``name``, made on first use with its artifacts under ``artifacts``."""
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        location = f"{self.artifact_root.rstrip('/')}/{name}"
        if "://" not in location:
            location = Path(location).resolve().as_uri()
        return str(self.client.create_experiment(name, artifact_location=location))

    def log_model(self, run_id: str, onnx_model: Any, model_name: str, **kwargs: Any) -> str:
        """Log ``onnx_model`` in run ``run_id`` and register it as a new version of ``model_name``; the version."""
        import mlflow
        import mlflow.onnx

        with _GLOBAL_URI:
            mlflow.set_tracking_uri(self.uri)
            mlflow.set_registry_uri(self.uri)
            with mlflow.start_run(run_id=run_id):
                info = mlflow.onnx.log_model(
                    onnx_model,
                    name="model",
                    registered_model_name=model_name,
                    onnx_execution_providers=["CPUExecutionProvider"],
                    **kwargs,
                )
        return str(info.registered_model_version)

    def alias_version(self, model_name: str, alias: str) -> str:
        """The version ``alias`` points to, or a RegistryError naming the aliases that exist."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(model_name, alias).version)
        except MlflowException:
            raise RegistryError(self._missing(model_name, alias)) from None

    def aliases(self, model_name: str) -> dict[str, str]:
        """Alias -> version of ``model_name``; empty when the model is not registered."""
        from mlflow.exceptions import MlflowException

        try:
            return {a: str(v) for a, v in self.client.get_registered_model(model_name).aliases.items()}
        except MlflowException:
            return {}

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(model_name, alias, version)

    def onnx_bytes(self, model_name: str, version: str) -> bytes:
        """The ONNX file of one registered version."""
        import mlflow.artifacts

        # The version's `source` (`models:/m-...`) would be resolved through MLflow's process-wide tracking URI;
        # the client's download URI is the artifacts' own location.
        source = self.client.get_model_version_download_uri(model_name, version)
        folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=source))
        return (folder / "model.onnx").read_bytes()

    def versions(self, model_name: str) -> list[str]:
        return sorted((str(v.version) for v in self.client.search_model_versions(f"name='{model_name}'")), key=int)

    def record_run(self, experiment: str, tags: dict[str, str], metrics: dict[str, float]) -> str:
        """A finished run holding ``tags`` and ``metrics`` (a promotion decision); its id."""
        run = self.client.create_run(self.experiment_id(experiment), tags=tags)
        now = int(time.time() * 1000)
        from mlflow.entities import Metric

        self.client.log_batch(run.info.run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
        self.client.set_terminated(run.info.run_id)
        return str(run.info.run_id)

    def _missing(self, model_name: str, alias: str) -> str:
        known = self.aliases(model_name)
        if not known:
            return (
                f"model '{model_name}' has no registered versions in {self.shown_uri()}: run its train pipeline first"
            )
        listed = ", ".join(f"{a} (v{v})" for a, v in sorted(known.items()))
        return f"model '{model_name}' has no alias '{alias}'; its aliases are: {listed}"

    def shown_uri(self) -> str:
        """The store's URI without a password (for messages)."""
        return re.sub(r"(://[^:/@\s]*:)[^@\s]+@", r"\1***@", self.uri)


def _sqlite_uri(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(folder / 'mlflow.db').resolve()}"
