"""`dagwright up`: a local Prefect server with its UI, on SQLite under .dagwright/prefect."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from flows.errors import DagwrightError

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 4200


def api_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    return f"http://{host}:{port}/api"


def is_healthy(url: str, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def recorded_url(state: Path) -> str | None:
    """The API URL of the `dagwright up` serving this project, if it still answers: run and deploy find it on any
    port (a user who chose `--port 4350` was sent to a temporary server before, on the same database)."""
    try:
        url = str(json.loads((state / "prefect" / "up.json").read_text())["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if is_healthy(url) else None


def _record_url(state: Path, url: str | None) -> None:
    record = state / "prefect" / "up.json"
    if url is None:
        record.unlink(missing_ok=True)
    else:
        record.write_text(json.dumps({"url": url, "pid": os.getpid()}))


def prefect_env(state: Path) -> dict[str, str]:
    """Settings for every Prefect process dagwright starts: a project-local home and no analytics calls."""
    return {
        "PREFECT_HOME": str(state / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }


def start_server(state: Path, host: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    url = api_url(host, port)
    if is_healthy(url):
        raise DagwrightError(f"a Prefect server already answers on {url}; use it, or pick another --port")
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **prefect_env(state), "PREFECT_API_URL": url}
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(process: subprocess.Popen[bytes], url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise DagwrightError(f"the Prefect server exited with code {process.returncode}; its log ends:\n{tail}")
        if is_healthy(url):
            return
        time.sleep(0.25)
    stop(process)
    raise DagwrightError(f"the Prefect server did not answer on {url} within {timeout:g}s; see {log}")


def stop(process: subprocess.Popen[bytes], grace: float = 20.0) -> int:
    """SIGTERM the server's process group, then SIGKILL if it does not exit within ``grace`` seconds."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


def run_up(state: Path, host: str, port: int, timeout: float) -> int:
    log = state / "prefect" / "server.log"
    process = start_server(state, host, port, log)
    url = api_url(host, port)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    wait_healthy(process, url, timeout, log)
    print(f"Prefect server and UI: http://{host}:{port}", flush=True)
    print(f"API: {url}   (dagwright run and deploy in this project use it; elsewhere: export PREFECT_API_URL={url})")
    print(f"Log: {log}. Ctrl-C stops it.", flush=True)
    _record_url(state, url)
    try:
        while not stopping and process.poll() is None:
            time.sleep(0.2)
    finally:
        _record_url(state, None)
    if not stopping:
        raise DagwrightError(f"the Prefect server exited on its own (code {process.returncode}); see {log}")
    stop(process)
    print("Prefect server stopped.", flush=True)
    return 0
