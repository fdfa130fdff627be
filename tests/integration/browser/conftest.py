"""The browser tier: the shipped RAG pipelines served by `dagwright deploy` on the session's Prefect server, and
Debian's chromium driven by Playwright (`playwright install` downloads browsers, which cannot work here)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.helpers.files import shipped_project
from tests.helpers.processes import interrupt_group

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "test-artifacts" / "ui"  # gitignored; CI keeps the folder for people to look at


def dagwright(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flows.cli", "-f", str(project / "pipelines.yaml"), *args]
    return subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def served(prefect_api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The UI's address, with rag-ingest and rag-query deployed and served on an ingested copy of the project."""
    from tests.integration.test_cli_prefect import wait_for_deployment

    project = shipped_project(tmp_path_factory.mktemp("ui") / "project")
    ingest = dagwright(project, "run", "rag-ingest", "--local")  # the store the served queries read
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    # Only these two: with all the shipped pipelines the UI's list pages them, and rag-query is on page two.
    only = ["--pipeline", "rag-ingest", "--pipeline", "rag-query"]
    command = [sys.executable, "-m", "flows.cli", "-f", str(project / "pipelines.yaml"), "deploy", *only]
    log = (tmp_path_factory.getbasetemp() / "deploy.log").open("w")
    server = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for name in ("rag-ingest/rag-ingest", "rag-query/rag-query"):
            wait_for_deployment(name)
        yield prefect_api.removesuffix("/api")
    finally:
        interrupt_group(server)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does it)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot under test-artifacts/ui/, for a person to look at the UI as a user sees it."""
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def artifact_images(page: Any, api: str, artifact: Any, heading: str, height: int) -> list[list[Any]]:
    """Open ``artifact``'s page once ``heading`` shows, wait for its last SVG image, and return each image's
    [alt, natural width] (0 for one the browser could not draw)."""
    page.set_viewport_size({"width": 1300, "height": height})  # the page scrolls inside its own frame
    page.goto(f"{api.removesuffix('/api')}/artifacts/artifact/{artifact.id}")
    page.get_by_role("heading", name=heading).wait_for()
    images = page.locator("img[src^='data:image/svg+xml']")
    images.last.wait_for()
    return images.evaluate_all("imgs => imgs.map(i => [i.alt, i.complete && i.naturalWidth])")


def wait_for_final_state(flow_run_id: str, timeout: float = 420) -> Any:
    from prefect import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            flow_run = client.read_flow_run(flow_run_id)
            if flow_run.state is not None and flow_run.state.is_final():
                return flow_run
            if time.monotonic() > deadline:
                raise TimeoutError(f"flow run {flow_run_id} still {flow_run.state_name} after {timeout}s")
            time.sleep(1)
