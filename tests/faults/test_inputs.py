"""Input safety (issue 8): what loader.files refuses, how per-file problems reach on_fail's quarantine or stop,
which failures are not retried, and the query against an empty store."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from components.loaders import FileLoader, LoaderError
from flows.cli import main
from flows.execute.local import run_local
from flows.execute.runtime import is_retryable
from tests.helpers.files import write_tree

pytestmark = pytest.mark.usefixtures("project_in_tmp_path")  # the project root, default allowed_roots, is tmp_path

SECRET = "root:$6$not-really-a-hash:19000:0:99999:7:::\n"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "docs", {"good.md": "# Good\n\nA readable document.\n"})


def load(docs: Path, **params: object) -> dict[str, object]:
    """source -> the document (content and meta) the loader made of it."""
    return {d.meta["source"]: d for d in FileLoader(FileLoader.Params(path=str(docs), **params)).run()}


def loaded_within(docs: Path, seconds: float) -> dict[str, object]:
    """load(docs), failing the test instead of hanging when a read blocks (a fifo)."""
    box: dict[str, dict[str, object]] = {}
    thread = threading.Thread(target=lambda: box.setdefault("docs", load(docs)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"loader.files still running after {seconds}s"
    return box["docs"]


def test_a_symlink_out_of_the_source_folder_is_not_followed(tmp_path: Path, docs: Path) -> None:
    shadow = tmp_path / "etc" / "shadow"  # stands in for /etc/shadow
    shadow.parent.mkdir()
    shadow.write_text(SECRET)
    (docs / "notes.txt").symlink_to(shadow)
    (docs / "alias.md").symlink_to(docs / "good.md")  # a link inside the folder to inside it is fine
    found = load(docs)
    assert found["notes.txt"].content == "" and found["notes.txt"].meta["error"] == "symlink out of the source folder"
    assert all("not-really-a-hash" not in d.content for d in found.values())
    assert found["alias.md"].content == found["good.md"].content and "error" not in found["alias.md"].meta
    # Opting in follows it, but never beyond allowed_roots.
    assert load(docs, follow_links_out=True)["notes.txt"].content == SECRET
    refused = load(docs, follow_links_out=True, allowed_roots=["docs"])["notes.txt"]
    assert refused.meta["error"] == "symlink out of the source folder"


def test_a_source_outside_allowed_roots_is_refused_and_not_retried(plan_of, tmp_path: Path, docs: Path) -> None:
    for source in ("/etc", str(tmp_path.parent)):
        with pytest.raises(LoaderError, match=rf"folder '{source}' is outside allowed_roots \[{tmp_path}\]"):
            FileLoader(FileLoader.Params(path=source)).run()
    with pytest.raises(LoaderError, match="is outside allowed_roots"):
        FileLoader(FileLoader.Params(path=str(docs), allowed_roots=["elsewhere"])).run()
    (tmp_path / "linked").symlink_to(tmp_path.parent, target_is_directory=True)  # judged where it points
    with pytest.raises(LoaderError, match=rf"folder 'linked' \({tmp_path.parent}\) is outside allowed_roots"):
        FileLoader(FileLoader.Params(path="linked")).run()
    assert load(docs, allowed_roots=["docs"])["good.md"].content  # relative to the project root
    with pytest.raises(LoaderError, match=r"pattern '\.\./etc/\*' leaves the folder"):
        load(docs, pattern="../etc/*")
    plan = plan_of("""
        pipelines:
          p:
            params: {source: {type: string, default: docs}}
            stages:
              load: {uses: loader.files, with: {path: "${params.source}"}, retries: 3, retry_delay: 5s}
        """)
    result = run_local(plan, {"source": "/etc"})
    assert result.stages["load"].attempts == 1 and result.seconds < 5
    assert "LoaderError: loader.files: folder '/etc' is outside allowed_roots" in (result.error and str(result.error))


def test_a_missing_folder_is_not_retried(plan_of) -> None:
    plan = plan_of("""
        pipelines:
          p:
            stages:
              load: {uses: loader.files, with: {path: nope}, retries: 3, retry_delay: 5s}
        """)
    result = run_local(plan)
    assert result.stages["load"].attempts == 1 and "folder 'nope' does not exist" in str(result.error)
    assert not is_retryable(LoaderError("x")) and is_retryable(OSError("connection reset"))


def test_a_fifo_is_refused_without_hanging(docs: Path) -> None:
    os.mkfifo(docs / "pipe.md")
    found = loaded_within(docs, 5)
    assert found["pipe.md"].meta["error"] == "is a fifo, not a regular file"
    assert found["good.md"].content


def test_an_oversized_file_stops_the_run_by_default_quickly(plan_of, docs: Path) -> None:
    with (docs / "big.txt").open("wb") as big:  # 50 MB, sparse: instant to make
        big.truncate(50 * 1024 * 1024)
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              load: {{uses: loader.files, with: {{path: "{docs}"}}, retries: 2}}
        """)
    started = time.perf_counter()
    result = run_local(plan)
    error = result.stages["load"].error or ""
    assert (
        "readable failed (1 of 2 rows unexpected, e.g. ['52428800 bytes > max_file_bytes=10485760'] at big.txt)"
        in error
    )
    assert result.stages["load"].attempts == 1
    assert time.perf_counter() - started < 30  # was 114 s and 6 GB to chunk; now the load never reads it


def test_max_file_bytes_is_a_setting(docs: Path) -> None:
    (docs / "medium.md").write_text("# Medium\n\n" + "word " * 100)
    assert load(docs, max_file_bytes=100)["medium.md"].meta["error"] == "510 bytes > max_file_bytes=100"
    assert "error" not in load(docs, max_file_bytes=1000)["medium.md"].meta


def broken_files(docs: Path) -> None:
    """One file of each kind that cannot be loaded (tests run as root, so no permission problem)."""
    (docs / "bad.pdf").write_bytes(b"this is not a PDF")
    (docs / "x.md").mkdir()
    (docs / "gone.md").symlink_to(docs / "deleted.md")
    (docs / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))


EXPECTED_PROBLEMS = {
    "bad.pdf": "cannot read PDF: ",
    "gone.md": "dangling symlink",
    "latin1.txt": "not utf-8 text: invalid continuation byte",
    "x.md": "is a directory, not a regular file",
}


def ingest(plan_of, docs: Path, on_fail: str):
    from tests.helpers.pipelines import FN

    return run_local(
        plan_of(f"""
        pipelines:
          p:
            stages:
              load: {{uses: loader.files, with: {{path: "{docs}"}}, on_fail: {on_fail}}}
              count:
                uses: python.call
                with: {{function: "{FN}:count_documents"}}
                inputs: {{documents: load.output}}
        """)
    )


def test_unreadable_files_are_quarantined_with_their_reasons_and_the_rest_ingests(plan_of, docs: Path) -> None:
    broken_files(docs)
    result = ingest(plan_of, docs, "quarantine")
    assert result.ok, result.error
    assert result.output("count") == 1  # good.md
    [report] = result.stages["load"].gates
    rows = [json.loads(line) for line in Path(report.quarantined["output"]).read_text().splitlines()]
    reasons = {r["item"]["meta"]["source"]: r["item"]["meta"]["error"] for r in rows}
    assert sorted(reasons) == sorted(EXPECTED_PROBLEMS)
    for source, start in EXPECTED_PROBLEMS.items():
        assert reasons[source].startswith(start), (source, reasons[source])
    assert all("readable" in r["reasons"] for r in rows)


def test_unreadable_files_stop_the_run_naming_the_files_and_reasons(plan_of, docs: Path) -> None:
    broken_files(docs)
    result = ingest(plan_of, docs, "stop")
    assert not result.ok and result.stages["count"].status == "skipped"
    error = result.stages["load"].error or ""
    assert "gate of stage 'load' failed: outputs.output: readable failed (4 of 5 rows unexpected, e.g. [" in error
    assert "'cannot read PDF: " in error and "'dangling symlink'" in error  # the first three
    assert "at bad.pdf, gone.md, latin1.txt ...)" in error
    assert result.stages["load"].attempts == 1


def test_a_query_against_an_empty_store_is_an_error(
    tmp_path: Path, write_pipelines, capsys: pytest.CaptureFixture[str]
) -> None:
    pipelines = write_pipelines(f"""
        resources:
          docs: {{uses: store.chroma, with: {{path: "{tmp_path / "never-ingested"}", collection: docs}}}}
        pipelines:
          q:
            params: {{question: {{type: string}}}}
            stages:
              retrieve:
                uses: retriever.bm25
                with: {{store: docs}}
                inputs: {{query: "${{params.question}}"}}
                retries: 2
        """)
    code = main(["-f", str(pipelines), "run", "q", "--local", "-p", "question=Where do secrets go?"])
    out = capsys.readouterr()
    assert code == 1
    assert "EmptyStoreError: store 'docs' is empty: run rag-ingest" in out.out + out.err
    assert "I could not find an answer" not in out.out + out.err
