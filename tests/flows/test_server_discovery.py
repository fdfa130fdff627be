"""`dagwright up --port N` records where it serves, so `run` and `deploy` in the project find it (a new user's
`up --port 4350` was ignored: runs went to a temporary server on the same database)."""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.cli.main import TEMPORARY_SERVER, configure_prefect


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answering() -> Iterator[str]:
    """A server answering Prefect's health check, as `up` leaves one."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project with no server configured; configure_prefect sets os.environ itself, so it is restored after."""
    saved = dict(os.environ)
    for name in ("PREFECT_API_URL", "PREFECT_HOME"):
        os.environ.pop(name, None)
    os.environ["DAGWRIGHT_HOME"] = str(tmp_path / "state")
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)


def record(project: Path, url: str) -> None:
    folder = project / "state" / "prefect"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "up.json").write_text(json.dumps({"url": url, "pid": 1}))


def test_run_and_deploy_find_the_up_of_their_project_on_its_port(project: Path, answering: str) -> None:
    record(project, answering)
    assert configure_prefect(project, verbose=False) == answering


def test_a_recorded_up_that_no_longer_answers_is_not_used(project: Path, answering: str) -> None:
    record(project, answering.replace(answering.split(":")[-1].split("/")[0], "9"))  # port 9: nothing answers
    assert configure_prefect(project, verbose=False) in (TEMPORARY_SERVER, "http://127.0.0.1:4200/api")
