"""An API key read with ${env:...} by an `llm.gateway` provider never leaves: not in the run's output (tracebacks
included), not in the usage records, not in any file under DAGWRIGHT_HOME, even when the endpoint quotes it back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from components.gateway.usage import open_usage_store
from tests.conftest import REPO
from tests.helpers.chatserver import chat_server
from tests.helpers.files import write_tree

KEY = "sk-gw-SECRET-4b7e1d90aa"

PIPELINE = """
resources:
  llm:
    uses: llm.gateway
    with:
      providers:
        remote: {kind: openai, base_url: "URL", model: gpt-4o-mini, api_key: "${env:DW_GW_KEY}", max_retries: 1}
      route: [remote]
      backoff: 0.01
pipelines:
  ask:
    params: {question: "What is in the notes?"}
    stages:
      read: {uses: loader.files, with: {path: notes, pattern: "*.md"}}
      generate:
        uses: generator.answer
        with: {llm: llm, prompts_dir: PROMPTS}
        inputs: {question: "${params.question}", documents: read.output}
"""


def quoting(headers) -> dict:
    return {"error": {"message": f"upstream rejected {headers['authorization']}"}}


def test_a_key_quoted_back_by_the_endpoint_is_masked_everywhere(tmp_path: Path, isolated_home: Path) -> None:
    with chat_server((503, {}, quoting)) as (url, script):
        text = PIPELINE.replace("URL", url).replace("PROMPTS", str(REPO / "prompts"))
        root = write_tree(tmp_path / "project", {"pipelines.yaml": text, "notes/a.md": "# Alpha\nsome words\n"})
        command = [sys.executable, "-m", "flows.cli", "-f", str(root / "pipelines.yaml"), "run", "ask", "--local"]
        env = {**os.environ, "DW_GW_KEY": KEY, "PYTHONPATH": str(REPO)}
        done = subprocess.run([*command, "-v"], env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 1, done.stdout + done.stderr
    # Not vacuous: the endpoint got the key and quoted it, and the failure shown is that quote, masked.
    assert script.requests and script.requests[0][2]["authorization"] == f"Bearer {KEY}"
    assert "upstream rejected Bearer ***" in done.stdout, done.stdout
    assert KEY not in done.stdout + done.stderr
    found = [str(p) for p in isolated_home.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert found == []
    records = open_usage_store(None, isolated_home).records()
    assert records and {r.outcome for r in records} == {"error"}
    assert all("Bearer ***" in r.error and r.pipeline == "ask" for r in records)
