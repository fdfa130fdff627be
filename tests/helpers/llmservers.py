"""Real llama.cpp servers (SmolLM2, components/llmserver.py) on fixed loopback ports, that a test can kill and
start again on the same port: a provider that dies mid-run and comes back."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    def __init__(self, log: Path, context: int = 2048, parallel: int = 1) -> None:
        self.port, self.log, self.context, self.parallel = free_port(), log, context, parallel
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120) -> LlamaServer:
        command = [sys.executable, "-m", "components.llmserver", "--port", str(self.port)]
        command += ["--context", str(self.context), "--threads", "1", "--parallel", str(self.parallel)]
        command += ["--parent", str(os.getpid())]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"llama.cpp server on port {self.port} did not answer in {timeout}s")

    def kill(self) -> None:
        """SIGKILL: the provider vanishes mid-run, with no goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        self.process = None

    def slots(self) -> list[dict[str, Any]]:
        """llama.cpp's /slots: each slot's `is_processing` and the id of its last task (`id_task`)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/slots", timeout=5) as response:
            return list(json.load(response))


@contextmanager
def primary_and_backup(logs: Path) -> Iterator[tuple[LlamaServer, LlamaServer]]:
    """Two servers for a fallback route, started; both stopped at the end, whichever a test killed."""
    primary, backup = LlamaServer(logs / "primary.log"), LlamaServer(logs / "backup.log")
    try:
        yield primary.start(), backup.start()
    finally:
        primary.stop()
        backup.stop()
