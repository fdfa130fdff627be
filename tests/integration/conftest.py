"""A real Prefect server for the integration tier, started once per session the way `dagwright up` starts it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.server import api_url, start_server, stop, wait_healthy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("prefect-state")
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


@pytest.fixture
def project(write_pipelines) -> Path:
    return write_pipelines("")  # callers overwrite; gives the folder
