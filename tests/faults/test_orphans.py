"""The embedded LLM server dies with the process that started it, even one killed with SIGKILL (issue 8: a
267 MB server was left answering after a kill -9 of its parent)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

PARENT = """
import sys, time
from pathlib import Path
from components.llmserver import LocalServer

server = LocalServer(Path(sys.argv[1]), context=512, threads=1)
print(server.start(), server.process.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie waiting for a reaper counts as gone (it holds no memory and no port)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.integration
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_local_llm_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "llm-server.log")], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    child = 0
    try:
        assert parent.stdout is not None
        url, pid = parent.stdout.readline().split()  # once the server answers
        child = int(pid)
        assert url.startswith("http://127.0.0.1:") and alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 5
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child), f"the LLM server (pid {child}) outlived its killed parent"
    finally:
        parent.kill()
        if child and alive(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.integration
def test_the_local_llm_server_outlives_the_thread_that_started_it(tmp_path: Path) -> None:
    """Resources open on worker threads (a Prefect task, serve's start-up) that end before the process does: the
    server belongs to the process, not the thread (prctl's PDEATHSIG, tried first, killed it with the thread)."""
    from components.llmserver import LocalServer

    server = LocalServer(tmp_path / "llm-server.log", context=512, threads=1)
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
    try:
        assert server.process is not None and server.url is not None
        time.sleep(1.5)  # a signal on the thread's end would have arrived by now
        assert alive(server.process.pid), f"the LLM server died with its starting thread; see {server.log}"
    finally:
        server.stop()
