"""Small functions behind the served test pipelines (tests/flows/test_serve.py, tests/integration/test_serve.py)."""

from __future__ import annotations

import os
import time

from components.documents import Document

# The served pipeline both serve test modules start from (YAML under `pipelines:`, indented for it).
ECHO_PIPELINE = """
  echo:
    description: Shout the question back.
    serve: {chat: true}
    params:
      question: {type: string, min_length: 1, max_length: 200, description: The question to shout.}
      times: {type: integer, default: 1, minimum: 1, maximum: 5, description: How many times.}
    stages:
      shout:
        uses: python.call
        with: {function: "tests.helpers.servefns:shout"}
        inputs: {question: "${params.question}", times: "${params.times}"}"""


def grounded(name: str, generate: str, serve: str = "true", extra: str = "") -> str:
    """A served pipeline (YAML under `pipelines:`) that answers from the two fixed passages, its `generate`
    stage's `with` being ``generate`` (a flow mapping) and ``extra`` more of its keys."""
    more = f"\n        {extra}" if extra else ""
    return f"""
  {name}:
    serve: {serve}
    params: {{question: {{type: string, min_length: 1}}}}
    stages:
      find:
        uses: python.call
        with: {{function: "tests.helpers.servefns:passages"}}
        inputs: {{question: "${{params.question}}"}}
      generate:
        uses: generator.answer
        with: {generate}
        inputs: {{question: "${{params.question}}", documents: find.output}}
        cache: false{more}"""


def shout(question: str, times: int) -> str:
    return " ".join([question.upper()] * times)


def fail(question: str) -> str:
    # The message quotes a secret from the environment: no response may carry it.
    raise RuntimeError(f"exploded with token {os.environ.get('SERVE_TEST_SECRET', '')} on {question!r}")


def slow(question: str, seconds: float) -> str:
    time.sleep(seconds)
    return question


def passages(question: str) -> list[Document]:
    """Two fixed passages, so a generator answers from them without an embedder or a store."""
    texts = [
        "dagwright keeps the results of stages in a content-hash cache under .dagwright/results.",
        "A cached stage result is reused when the component, its params and the hashes of its inputs match.",
    ]
    return [Document(f"p{n}", text, {"source": f"notes{n}.md", "relevance": 0.9}) for n, text in enumerate(texts, 1)]


def caller(question: str) -> dict[str, str]:
    """Who the running stage works for, as the LLM gateway sees it (components/runinfo.py)."""
    from components.runinfo import current_run

    info = current_run()
    return {"endpoint": info.endpoint, "org": info.org, "key_id": info.key_id, "pipeline": info.pipeline}
