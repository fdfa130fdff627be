"""Stopping the servers the tests start, so that none outlives a failing test."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
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
