"""Data-quality gates with real Great Expectations: bad data injected at each stage of an ingest pipeline is
stopped before anything is indexed; quarantine keeps the good rows; warn lets the run finish; check writes
nothing; GX expectations by name gate DataFrames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.stores.chroma import ChromaStore
from flows.execute.local import run_local
from flows.plan.gxnames import CATALOG_FILE, generate
from tests.helpers.files import write_tree
from tests.helpers.pipelines import FN
from tests.helpers.resources import open_resource

# loader.files reads only under the project root (the working folder of a run); these tests load from tmp_path.
pytestmark = pytest.mark.usefixtures("project_in_tmp_path")

INGEST = """
resources:
  gated: {{uses: store.chroma, with: {{path: "{store}", collection: gated}}}}
  minilm: {{uses: embedding.onnx}}
pipelines:
  p:
    defaults: {{on_fail: {on_fail}}}
    stages:
      load: {{uses: loader.files, with: {{path: "{docs}"}}}}
      {fault_after_load}
      chunk:
        uses: chunker.sections
        with: {{chunk_size: 64, overlap: 8}}
        inputs: {{documents: {chunk_input}}}
      embed: {{uses: embedder.documents, inputs: {{documents: chunk.output}}}}
      {fault_after_embed}
      index:
        uses: store.write
        with: {{store: gated}}
        inputs: {{documents: {index_input}}}
"""


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "docs",
        {
            "a.md": "# Alpha\n\nThe first document has words.\n",
            "b.md": "# Beta\n\nThe second document has more words.\n",
        },
    )


def ingest_plan(
    plan_of, tmp_path: Path, docs: Path, *, on_fail: str = "stop", after_load: str = "", after_embed: str = ""
) -> object:
    text = INGEST.format(
        on_fail=on_fail,
        docs=docs,
        store=tmp_path / "chroma",
        fault_after_load=f"fault_docs: {{uses: python.call, with: {{function: '{FN}:{after_load}'}}, "
        "inputs: {documents: load.output}}"
        if after_load
        else "",
        chunk_input="fault_docs.output" if after_load else "load.output",
        fault_after_embed=f"fault_vectors: {{uses: python.call, with: {{function: '{FN}:{after_embed}'}}, "
        "inputs: {documents: embed.output}}"
        if after_embed
        else "",
        index_input="fault_vectors.output" if after_embed else "embed.output",
    )
    return plan_of(text)


def chroma(tmp_path: Path) -> ChromaStore:
    return open_resource(ChromaStore, path=str(tmp_path / "chroma"), collection="gated")


def indexed(tmp_path: Path) -> int:
    return chroma(tmp_path).count()


def test_clean_data_passes_every_default_gate_and_is_indexed(plan_of, tmp_path: Path, docs: Path) -> None:
    result = run_local(ingest_plan(plan_of, tmp_path, docs))
    assert result.ok, result.error
    checked = {s: [r.check for g in result.stages[s].gates for r in g.results] for s in ("load", "chunk", "embed")}
    assert checked["load"] == ["readable", "count(min=1)", "text_length(min=1)", "unique_ids"]
    assert checked["embed"] == ["finite_embeddings", "embedding_norm(min=0.99, max=1.01)"]
    assert indexed(tmp_path) == result.stages["chunk"].rows_out


def test_empty_text_stops_at_load(plan_of, tmp_path: Path, docs: Path) -> None:
    (docs / "empty.md").write_text("")
    result = run_local(ingest_plan(plan_of, tmp_path, docs))
    assert result.stages["load"].status == "failed"
    assert "gate of stage 'load' failed: outputs.output: text_length(min=1) failed (1 of 3 rows unexpected" in (
        result.stages["load"].error or ""
    )
    assert "at empty.md" in (result.stages["load"].error or "")
    assert [result.stages[s].status for s in ("chunk", "embed", "index")] == ["skipped"] * 3
    assert indexed(tmp_path) == 0


def test_duplicate_ids_stop_at_the_chunker(plan_of, tmp_path: Path, docs: Path) -> None:
    result = run_local(ingest_plan(plan_of, tmp_path, docs, after_load="duplicate_documents"))
    assert result.stages["chunk"].status == "failed"
    assert "gate of stage 'chunk' failed: outputs.output: unique_ids failed" in (result.stages["chunk"].error or "")
    assert indexed(tmp_path) == 0


def test_wrong_embedding_dimension_stops_where_declared(plan_of, tmp_path: Path, docs: Path) -> None:
    plan_text = INGEST.format(
        on_fail="stop",
        docs=docs,
        store=tmp_path / "chroma",
        fault_after_load="",
        chunk_input="load.output",
        fault_after_embed=f"""fault_vectors:
        uses: python.call
        with: {{function: '{FN}:embed_wrong_dimension'}}
        inputs: {{documents: embed.output}}
        checks:
          outputs:
            output: [{{embedding_dim: {{dim: 384}}}}]""",
        index_input="fault_vectors.output",
    )
    result = run_local(plan_of(plan_text))
    error = result.stages["fault_vectors"].error or ""
    assert "gate of stage 'fault_vectors' failed: outputs.output: embedding_dim(dim=384) failed" in error
    assert indexed(tmp_path) == 0


def test_nan_embedding_is_stopped_by_the_store_before_writing(plan_of, tmp_path: Path, docs: Path) -> None:
    result = run_local(ingest_plan(plan_of, tmp_path, docs, after_embed="poison_one_embedding"))
    error = result.stages["index"].error or ""
    assert "gate of stage 'index' failed: inputs.documents: finite_embeddings failed (1 of" in error
    assert indexed(tmp_path) == 0


def test_a_failed_gate_is_not_retried(plan_of, tmp_path: Path, docs: Path) -> None:
    (docs / "empty.md").write_text("")
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              load: {{uses: loader.files, with: {{path: "{docs}"}}, retries: 3, retry_delay: 5s}}
        """)
    result = run_local(plan)
    assert result.stages["load"].attempts == 1 and result.seconds < 5


def test_quarantine_keeps_the_good_rows_and_files_the_bad_with_reasons(
    plan_of, tmp_path: Path, docs: Path, isolated_home: Path
) -> None:
    (docs / "empty.md").write_text("")
    result = run_local(ingest_plan(plan_of, tmp_path, docs, on_fail="quarantine"))
    assert result.ok, result.error
    [report] = result.stages["load"].gates
    assert [r.action for r in report.results] == ["passed", "passed", "quarantined", "passed"]
    quarantined = Path(report.quarantined["output"])
    assert quarantined.is_relative_to(isolated_home / "quarantine" / "p")
    [row] = [json.loads(line) for line in quarantined.read_text().splitlines()]
    assert row["reasons"] == ["text_length(min=1)"] and row["item"]["meta"]["source"] == "empty.md"
    assert result.stages["load"].rows_out == 2
    sources = {d.meta["source"] for d in chroma(tmp_path).documents()}
    assert sources == {"a.md", "b.md"}


def test_quarantine_cannot_split_a_whole_table_check_so_it_stops(plan_of, tmp_path: Path) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    plan = plan_of(f"""
        pipelines:
          p:
            defaults: {{on_fail: quarantine}}
            stages:
              load: {{uses: loader.files, with: {{path: "{empty}"}}}}
        """)
    assert "count(min=1) failed (observed 0)" in (run_local(plan).stages["load"].error or "")


def test_warn_records_the_failure_and_lets_the_run_finish(plan_of, tmp_path: Path, docs: Path) -> None:
    (docs / "empty.md").write_text("")
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              load:
                uses: loader.files
                with: {{path: "{docs}"}}
                on_fail: warn
              count:
                uses: python.call
                with: {{function: "{FN}:count_documents"}}
                inputs: {{documents: load.output}}
        """)
    result = run_local(plan)
    assert result.ok and result.output("count") == 3  # nothing was removed
    assert [r.action for r in result.stages["load"].gates[0].results] == ["passed", "passed", "warned", "passed"]


def test_checks_false_turns_off_the_defaults(plan_of, docs: Path) -> None:
    (docs / "empty.md").write_text("")
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              load: {{uses: loader.files, with: {{path: "{docs}"}}, checks: false}}
        """)
    assert plan.stage("load").checks == () and run_local(plan).ok


def test_gx_expectations_by_name_gate_dataframes(plan_of) -> None:
    plan = plan_of(f"""
        pipelines:
          p:
            stages:
              flights:
                uses: python.call
                with: {{function: "{FN}:flights_table"}}
                on_fail: quarantine
                checks:
                  outputs:
                    output:
                      - expect_column_values_to_not_be_null: {{column: carrier}}
                      - expect_column_values_to_be_between: {{column: delay, min_value: 0, max_value: 100}}
        """)
    result = run_local(plan)
    assert result.ok
    frame = result.output("flights")
    assert len(frame) == 15 and frame["carrier"].notna().all()  # the 5 rows without a carrier were quarantined


def test_check_runs_every_gate_but_writes_nothing(tmp_path: Path, docs: Path) -> None:
    from flows.cli import main

    pipelines = tmp_path / "pipelines.yaml"
    pipelines.write_text(
        INGEST.format(
            on_fail="stop",
            docs=docs,
            store=tmp_path / "chroma",
            fault_after_load="",
            chunk_input="load.output",
            fault_after_embed="",
            index_input="embed.output",
        )
    )
    assert main(["-f", str(pipelines), "check", "p"]) == 0
    assert not (tmp_path / "chroma").exists()


def test_gx_catalog_matches_the_installed_great_expectations() -> None:
    assert json.loads(CATALOG_FILE.read_text()) == generate()


def test_a_passing_port_reports_what_a_complete_validation_would() -> None:
    from components.documents import Document
    from flows.execute.frames import to_frame
    from flows.execute.gates import GxValidator, validate_port
    from flows.plan.checks import resolve

    docs = [Document.from_source(f"d{i}.md", f"text {i}") for i in range(3)]
    checks = [resolve("outputs", "output", "documents", c) for c in ({"count": {"min": 1}}, "unique_ids")]
    outcomes = validate_port(GxValidator(), checks, to_frame("documents", docs))
    assert [(o.ok, o.observed, o.rows) for o in outcomes] == [
        (True, "observed 3", set()),
        (True, "0 of 3 rows unexpected", set()),
    ]


def test_loading_great_expectations_is_its_own_line_not_the_first_stages_time(tmp_path: Path, docs: Path) -> None:
    """A fresh process, so Great Expectations is loaded by this run's first gate."""
    import re
    import subprocess
    import sys

    from tests.conftest import REPO

    pipelines = tmp_path / "pipelines.yaml"
    pipelines.write_text(f"""
pipelines:
  p:
    stages:
      load: {{uses: loader.files, with: {{path: "{docs}"}}}}
      chunk: {{uses: chunker.tokens, with: {{tokenizer: words}}, inputs: {{documents: load.output}}}}
""")
    command = [sys.executable, "-m", "flows.cli", "-f", str(pipelines), "run", "p", "--local"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    loaded = [i for i, line in enumerate(lines) if re.fullmatch(r"\(great expectations loaded in \d+\.\d s\)", line)]
    assert len(loaded) == 1, done.stdout
    load_seconds = float(lines[loaded[0]].split(" in ")[1].split()[0])
    stage = lines[loaded[0] + 1]
    assert stage.startswith("load ")
    stage_ms = float(stage.split()[2])
    assert stage_ms < load_seconds * 1000, done.stdout
