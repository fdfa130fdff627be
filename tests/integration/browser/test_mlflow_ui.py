"""MLflow's own UI on the registry the classifier pipelines write (the README's `mlflow ui` command): the model's
versions with their `@champion`/`@challenger` aliases after a promotion, and the training and promotion runs.
The screenshot is docs/ui/11-mlflow-model-aliases.png's source."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.processes import interrupt_group
from tests.helpers.services import private_port
from tests.integration.browser.conftest import shot
from tests.integration.test_models import promote, train, world  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture
def mlflow_ui(world: dict, tmp_path: Path) -> Iterator[str]:  # noqa: F811
    """`mlflow ui` on the world's SQLite registry, as the README runs it (one worker: it starts faster)."""
    port = private_port()
    uri = world["registry"].uri
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--port", str(port), "--workers", "1"]
    log = (tmp_path / "mlflow-ui.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # a cold start imports MLflow's server: a minute on a busy machine
        while True:
            try:
                if httpx.get(f"{address}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "mlflow-ui.log").read_text()
            time.sleep(1)
        yield address
    finally:
        interrupt_group(server)
        log.close()


def test_mlflow_ui_shows_the_versions_their_aliases_and_the_runs(world: dict, mlflow_ui: str, page: Any) -> None:  # noqa: F811
    name = "ui-classifier"
    train(world, name, "weak.csv")
    train(world, name, "strong.parquet")
    assert promote(world, name).decision == "promoted"
    page.goto(f"{mlflow_ui}/#/models/{name}")
    row = page.get_by_role("row").filter(has_text="Version 2")
    row.get_by_text("@ champion").wait_for()
    assert row.get_by_text("@ challenger").is_visible()
    assert not page.get_by_role("row").filter(has_text="Version 1").get_by_text("@ champion").is_visible()
    shot(page, "11-mlflow-model-aliases")
    page.goto(f"{mlflow_ui}/#/experiments")
    page.get_by_text(f"{name}-promotion").wait_for()
    assert page.get_by_text(name, exact=True).is_visible()
