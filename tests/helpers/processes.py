"""Stopping the servers the tests start, so that none outlives a failing test."""

from __future__ import annotations

import os
import signal
import subprocess


def interrupt_group(process: subprocess.Popen, timeout: float = 120) -> None:
    """Ctrl-C the process group (a clean shutdown), and kill it if it has not ended within ``timeout``."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        raise
