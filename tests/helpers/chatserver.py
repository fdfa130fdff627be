"""A scripted OpenAI-compatible chat endpoint on loopback, for the failures a real model server cannot be made to
give on demand (429 with Retry-After, a 5xx, a 401 that quotes the caller's key). It is a real HTTP server: the
gateway's openai client, its retries and its error handling all run for real against it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Script:
    """Responses in order (status, headers, body); the last repeats. Requests are kept with their arrival time."""

    responses: list[tuple[int, dict[str, str], dict]]
    requests: list[tuple[float, dict, dict[str, str]]] = field(default_factory=list)


def completion(text: str = "scripted answer", prompt_tokens: int = 11, completion_tokens: int = 2) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": 13},
    }


OK = (200, {}, completion())


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            n = len(script.requests)
            script.requests.append((time.monotonic(), body, dict(self.headers)))
            status, headers, payload = script.responses[min(n, len(script.responses) - 1)]
            if callable(payload):
                payload = payload(self.headers)
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in {"content-type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def chat_server(*responses: tuple[int, dict[str, str], dict]) -> Iterator[tuple[str, Script]]:
    """Serve ``responses`` at http://127.0.0.1:PORT/v1 until the block ends; yields the base URL and the script."""
    script = Script(list(responses))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", script
    finally:
        server.shutdown()
        server.server_close()
