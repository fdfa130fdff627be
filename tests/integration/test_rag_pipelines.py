"""The shipped RAG pipelines end to end through the CLI: ingest (twice, then after edits) and query, in process
and as Prefect flows, with the real embedder, Chroma store and local LLM."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.helpers.files import shipped_project
from tests.helpers.processes import interrupt_group
from tests.helpers.services import PG_SECRET, REDIS_SECRET, redis_url, scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = shipped_project(tmp_path / "project")
    return root


def dagwright(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flows.cli", "-f", str(project / "pipelines.yaml"), *args]
    environment = {**os.environ, **env}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO, env=environment)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def report(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("index.report = "))


def test_ingest_is_incremental_and_query_answers_with_sources(project: Path) -> None:
    first = dagwright(project, "run", "rag-ingest", "--local")
    assert first.returncode == 0, first.stdout + first.stderr
    files = len([p for p in (project / "docs").rglob("*") if p.suffix in {".md", ".rst", ".html"}])
    assert f"sources_new={files}, sources_changed=0" in report(first.stdout)

    again = dagwright(project, "run", "rag-ingest", "--local")
    assert (
        f"sources_new=0, sources_changed=0, sources_unchanged={files}, sources_removed=0, chunks_written=0, "
        "chunks_deleted=0" in report(again.stdout)
    )

    (project / "docs" / "faq.rst").write_text("FAQ\n===\n\nOnly one question is left: none.\n")
    (project / "docs" / "glossary.html").unlink()
    edited = dagwright(project, "run", "rag-ingest", "--local")
    assert f"sources_new=0, sources_changed=1, sources_unchanged={files - 2}, sources_removed=1" in report(
        edited.stdout
    )

    answer = dagwright(project, "run", "rag-query", "--local", "-p", "question=Where do secrets go in dagwright?")
    assert answer.returncode == 0, answer.stderr
    assert "generate.answer:" in answer.stdout
    assert "  [1] " in answer.stdout and "relevance" in answer.stdout

    nothing = dagwright(project, "run", "rag-query", "--local", "-p", "question=Who painted the Mona Lisa?")
    assert "I could not find an answer in the indexed documents" in nothing.stdout


def test_the_prod_profile_runs_the_same_pipelines_on_pgvector(project: Path, pg_dsn: str) -> None:
    import psycopg

    files = len([p for p in (project / "docs").rglob("*") if p.suffix in {".md", ".rst", ".html"}])
    listed = dagwright(project, "--profile", "prod", "resources", DAGWRIGHT_PG_DSN=pg_dsn)
    assert re.search(r"^  docs +store\.pgvector ", listed.stdout, re.M) and "(profile prod)" in listed.stdout
    ingest = dagwright(project, "--profile", "prod", "run", "rag-ingest", "--local", DAGWRIGHT_PG_DSN=pg_dsn)
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    assert f"sources_new={files}, sources_changed=0" in report(ingest.stdout)
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT count(DISTINCT source), count(*) FROM dagwright_docs").fetchone()
    assert row is not None and row[0] == files and row[1] > files
    assert not (project / ".dagwright" / "chroma").exists()  # the embedded store was never opened

    with prod_llm_services() as (llm_env, cached):
        query = dagwright(
            project, "run", "rag-query", "--local", "-p", "question=Where do secrets go?", DAGWRIGHT_PROFILE="prod",
            DAGWRIGHT_PG_DSN=pg_dsn, **llm_env,
        )  # fmt: skip
        assert query.returncode == 0, query.stdout + query.stderr
        assert "generate.answer:" in query.stdout and "  [1] " in query.stdout
        with psycopg.connect(llm_env["DAGWRIGHT_USAGE_DSN"]) as conn:  # the gateway's records, in PostgreSQL
            calls = conn.execute("SELECT pipeline, outcome FROM dagwright_llm_calls").fetchall()
        assert calls == [("rag-query", "ok")]
        assert cached() >= 1  # the reply, in Redis
        usage = dagwright(project, "--profile", "prod", "usage", **llm_env)
        assert "PostgreSQL of resource 'llm'" in usage.stdout and "rag-query" in usage.stdout
    shown = ingest.stdout + ingest.stderr + query.stdout + query.stderr + usage.stdout + usage.stderr
    assert pg_dsn not in shown and PG_SECRET not in shown and REDIS_SECRET not in shown

    missing = dagwright(project, "--profile", "prod", "run", "rag-query", "--local", "-p", "question=Why?")
    assert missing.returncode == 1
    assert (
        "resource 'docs': environment variable DAGWRIGHT_PG_DSN is not set (or is empty)"
        in missing.stdout + missing.stderr
    )


@contextlib.contextmanager
def prod_llm_services() -> Iterator[tuple[dict[str, str], Callable[[], int]]]:
    """The prod profile's gateway services: a scratch database on the system PostgreSQL and the test Redis; the
    Redis keys the run adds (under the shipped prefix) are deleted after."""
    import redis

    client = redis.Redis.from_url(redis_url())
    before = set(client.scan_iter(match="dagwright:llm:*"))

    def cached() -> int:
        return len(set(client.scan_iter(match="dagwright:llm:*")) - before)

    try:
        with scratch_database() as dsn:
            yield {"DAGWRIGHT_USAGE_DSN": dsn, "DAGWRIGHT_REDIS_URL": redis_url()}, cached
    finally:
        added = set(client.scan_iter(match="dagwright:llm:*")) - before
        if added:
            client.delete(*added)
        client.close()


def test_rag_pipelines_run_as_prefect_flows(prefect_api: str, project: Path) -> None:
    ingest = dagwright(project, "run", "rag-ingest")
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    assert f"as a Prefect flow on {prefect_api}" in ingest.stdout
    query = dagwright(
        project, "run", "rag-query", "-p", "question=How do I run a pipeline without Prefect?", "-p", "top_k=2"
    )
    assert query.returncode == 0, query.stdout + query.stderr
    assert "generate.answer:" in query.stdout and "  [2] " in query.stdout


def test_rag_pipelines_served_as_deployments_answer_when_triggered(prefect_api: str, project: Path) -> None:
    from prefect.deployments import run_deployment

    from tests.integration.test_cli_prefect import wait_for_deployment

    command = [
        sys.executable,
        "-m",
        "flows.cli",
        "-f",
        str(project / "pipelines.yaml"),
        "deploy",
        "rag-ingest",
        "rag-query",
    ]
    served = subprocess.Popen(
        command,
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_deployment("rag-query/rag-query")
        ingest = run_deployment("rag-ingest/rag-ingest", timeout=240)
        assert ingest.state.is_completed(), ingest.state
        query = run_deployment("rag-query/rag-query", parameters={"question": "Where do secrets go?"}, timeout=240)
        assert query.state.is_completed(), query.state
        assert query.parameters == {"question": "Where do secrets go?", "top_k": 4}
        shows_its_outputs(ingest, query)
        missing = run_deployment("rag-ingest/rag-ingest", parameters={"source": "no-such-folder"}, timeout=240)
        reads_as_a_clean_failure(missing)
    finally:
        interrupt_group(served)


def shows_its_outputs(ingest: Any, query: Any) -> None:
    """The flagship results, as a `run_deployment` caller and the UI see them: the answer with its sources as
    markdown and the run's persisted result, the index report as a table; runs named by their key params."""
    from tests.integration.test_prefect_runview import artifacts_as_the_ui_lists_them, table

    assert query.name == "rag-query: Where do secrets go?" and ingest.name == "rag-ingest"
    answer = query.state.result()["outputs"]["generate.answer"]
    assert answer["question"] == "Where do secrets go?" and answer["text"] and answer["sources"]
    shown = {a.key: a for a in artifacts_as_the_ui_lists_them(query.id)}["rag-query-generate-answer"]
    assert shown.type == "markdown" and shown.data.startswith(answer["text"])
    assert f"1. {answer['sources'][0]['source']}" in shown.data.split("**Sources**")[1]
    report = {a.key: a for a in artifacts_as_the_ui_lists_them(ingest.id)}["rag-ingest-index-report"]
    assert report.type == "table" and {"count": "chunks_total", "value": 0} not in table(report)
    assert ingest.state.result()["outputs"]["index.report"]["chunks_total"] > 0


def reads_as_a_clean_failure(run: Any) -> None:
    """A failed ingest: the failed stage with its reason, the stages it prevented skipped by name, no traceback."""
    from tests.integration.test_prefect_runview import run_logs, task_runs

    assert run.state.is_failed() and run.state.message.startswith("pipeline 'rag-ingest': stage 'load' failed:")
    runs = task_runs(run.id)
    assert sorted(runs) == ["chunk", "embed", "index", "load"]
    assert [runs[s].state.name for s in ("chunk", "embed", "index")] == ["Skipped"] * 3
    messages = [log.message for log in run_logs(run.id)]
    assert not any("Traceback" in m or "Engine execution" in m for m in messages), messages
