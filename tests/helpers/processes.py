"""Stopping the servers the tests start, so that none outlives a failing test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def interrupt_group(process: subprocess.Popen, timeout: float = 120) -> None:
    """Ctrl-C the process group (a clean shutdown), and kill it if it has not ended within ``timeout``."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        raise


def stop_embedded_servers(under: Path) -> None:
    """Kill the PostgreSQL servers whose data folder is under ``under``, with their children."""
    for pid_file in under.rglob("postmaster.pid"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    """Wait until a `dagwright serve` at ``url`` says it is ready (its resources opened in the app's lifespan);
    fail with its log if it exits or does not get there within ``timeout``."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"not ready: {log.read_text()}")
