"""The CLI without Prefect: validate, list, show, schema, components, run --local, and its error handling."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import main
from tests.conftest import REPO
from tests.helpers.files import write_tree
from tests.helpers.pipelines import buggy

HEAVY = ("prefect", "feast", "great_expectations", "mlflow", "haystack", "onnxruntime", "openai", "fastapi", "uvicorn")


def probe(code: str, *args: str) -> list[str]:
    """The output lines of ``code`` run by a fresh interpreter from the repository root."""
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate"], ["list"], ["show", "docs-report"], ["components"], ["cache", "info"], ["usage"]],
)
def test_light_commands_import_no_heavy_library(args: list[str]) -> None:
    code = (
        "import sys\nfrom flows.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    assert probe(code, *args)[-1] == "[]"


def test_validate_imports_only_the_component_modules_it_uses() -> None:
    """pipelines.yaml uses python.call and, under its prod profile, store.pgvector; nothing uses store.memory."""
    modules = ["components.llmserver", "components.python", "components.stores.memory", "components.stores.pgvector"]
    code = f"import sys\nfrom flows.cli import main\nmain(['validate'])\nprint([m in sys.modules for m in {modules!r}])"
    assert probe(code)[-1] == "[False, True, False, True]"


def test_haystack_is_imported_when_a_file_is_planned_not_when_it_is_loaded(tmp_path: Path) -> None:
    stage = "a: {uses: haystack.prompt_builder, with: {template: hi}}"
    path = write_tree(tmp_path, {"pipelines.yaml": f"pipelines:\n  p:\n    stages:\n      {stage}\n"})
    code = (
        "import sys\nfrom flows.language.load import load\nfrom flows.plan.planner import plan_project\n"
        f"project = load({str(path / 'pipelines.yaml')!r})\nprint('haystack' in sys.modules)\n"
        "plan_project(project)\nprint('haystack' in sys.modules)"
    )
    assert probe(code) == ["False", "True"]


def test_validate_ok_and_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-f", str(REPO / "pipelines.yaml"), "validate"]) == 0
    # No notes either: the shipped chunk size fits MiniLM's window (a note on every command was noise to a new user).
    assert capsys.readouterr().out.splitlines() == ["ok: 16 pipelines, 31 stages"]


def test_validate_reports_every_problem_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    case = REPO / "tests/flows/cases/bad/34-many-problems-at-once.yaml"
    assert main(["validate", str(case)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 4 problems found\n")
    assert "Traceback" not in err


def test_missing_file_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2  # bad input, as documented
    assert "pipelines file" in capsys.readouterr().err


def test_messages_name_the_file_as_given_with_f(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pipelines.yaml").write_text("pipelines:\n  p:\n    stages: {a: {uses: nope.nope}}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["-f", "sub/pipelines.yaml", "validate"]) == 2
    assert "\nsub/pipelines.yaml:3:24: pipelines.p.stages.a.uses: unknown component" in capsys.readouterr().err
    assert main(["-f", "sub/pipelines.yaml", "validate", "other.yaml"]) == 2
    assert "two pipelines files given (sub/pipelines.yaml and other.yaml)" in capsys.readouterr().err


def test_unknown_pipeline_suggests_the_near_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-f", str(REPO / "pipelines.yaml"), "show", "docs-reprot"]) == 2
    assert "no pipeline 'docs-reprot' (did you mean 'docs-report'?)" in capsys.readouterr().err


def test_show_prints_text_and_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-f", str(REPO / "pipelines.yaml"), "show", "docs-report"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\n    stats +python\.call +documents <- read\.output\n", out)
    assert "```mermaid\nflowchart LR" in out
    assert "s_read -->|output to documents| s_stats" in out


def test_list_shows_schedule_and_description(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-f", str(REPO / "pipelines.yaml"), "list"]) == 0
    assert "docs-report               5 stages  [0 6 * * *]" in capsys.readouterr().out


def test_components_lists_params_and_ports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components"]) == 0
    out = capsys.readouterr().out
    assert "loader.files  (v1, builtin components.loaders)" in out
    assert "  param  pattern: str = '**/*'" in out
    assert "  out    output: list[Document]" in out
    assert "  in     data: Any" in out
    assert "haystack.cleaner  (alias of haystack:haystack.components.preprocessors.DocumentCleaner)" in out


def test_schema_validates_the_shipped_file_and_rejects_a_typo(capsys: pytest.CaptureFixture[str]) -> None:
    import jsonschema
    import yaml

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    shipped = yaml.safe_load((REPO / "pipelines.yaml").read_text())
    jsonschema.validate(shipped, schema)
    shipped["pipelines"]["docs-report"]["stages"]["read"]["with"]["patern"] = "*.md"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(shipped, schema)


def test_schema_accepts_haystack_components_and_refuses_other_modules(capsys: pytest.CaptureFixture[str]) -> None:
    import jsonschema
    import yaml

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    doc = yaml.safe_load((REPO / "tests/flows/cases/bad/47-haystack-unknown-init-arg.yaml").read_text())
    doc["pipelines"]["demo"]["stages"]["alias"] = {"uses": "haystack.joiner", "with": {"top_k": 3}}
    jsonschema.validate(doc, schema)
    doc["pipelines"]["demo"]["stages"]["clean"]["uses"] = "haystack:os.system"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_committed_schema_matches_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    main(["schema"])
    fresh = json.loads(capsys.readouterr().out)
    assert fresh == json.loads((REPO / "docs/pipelines.schema.json").read_text()), (
        "docs/pipelines.schema.json is out of date with the components' params: run `make schema` and commit it"
    )


def test_run_local_with_params(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    code = main(
        [
            "-f",
            str(REPO / "pipelines.yaml"),
            "run",
            "docs-report",
            "--local",
            "-p",
            f"source={REPO / 'docs'}",
            "-p",
            "top=3",
            "--param",
            f"out={out}",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "docs-report completed" in printed
    report = json.loads(out.read_text())
    assert report["documents"] >= 1 and len(report["top_terms"]) == 3


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("top=many", "param 'top': expected an integer, got 'many'"),
        ("top=0", "param 'top': 0 is below the minimum 1\n"),
        ("tpo=3", "has no param 'tpo' (did you mean 'top'?)"),
        ("top", "--param takes NAME=VALUE, got 'top'"),
    ],
)
def test_bad_params_are_rejected_before_running(param: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-f", str(REPO / "pipelines.yaml"), "run", "docs-report", "--local", "-p", param]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("question=   ", "param 'question': '   ' is blank (empty or only whitespace); it needs at least 1 character"),
        ("top_k=50", "param 'top_k': 50 is above the maximum 20\n"),
    ],
)
def test_the_shipped_rag_query_refuses_bad_params_before_prefect_starts(
    param: str, message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No --local: a run that got past its params would start a temporary Prefect server, well beyond this.
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    command = ["-f", str(REPO / "pipelines.yaml"), "run", "rag-query", "-p", "question=Why?", "-p", param]
    assert main(command) == 2
    assert message in capsys.readouterr().err


def test_show_draws_order_only_edges_apart_from_data_edges(plan_of) -> None:
    from flows.plan.render import as_mermaid, as_text

    plan = plan_of("""
        pipelines:
          p:
            stages:
              first: {uses: python.call, with: {function: "tests.helpers.stagefns:numbers"}}
              second:
                uses: python.call
                with: {function: "tests.helpers.stagefns:total"}
                inputs: {values: first.output}
              last:
                uses: python.call
                with: {function: "tests.helpers.stagefns:noop"}
                after: [second]
        """)
    assert re.search(r"last +python\.call +after second", as_text(plan))
    mermaid = as_mermaid(plan)
    assert "s_second -.->|after| s_last" in mermaid
    assert "s_first -->|output to values| s_second" in mermaid


def test_the_executable_flushes_and_runs_atexit_when_it_skips_finalization() -> None:
    code = (
        "import atexit, sys\nfrom flows.cli.main import entry\n"
        "atexit.register(lambda: print('atexit ran'))\nsys.argv = ['dagwright', 'validate']\nentry()\n"
    )
    assert probe(code)[-2:] == ["ok: 16 pipelines, 31 stages", "atexit ran"]
    bad = [sys.executable, "-m", "flows.cli", "validate", "tests/flows/cases/bad/34-many-problems-at-once.yaml"]
    failed = subprocess.run(bad, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2 and failed.stderr.startswith("error: ")


PLACEHOLDERS_IN_TYPED_FIELDS = """
resources:
  minilm: {uses: embedding.onnx, with: {batch_size: "${env:EMBED_BATCH}"}}
pipelines:
  p:
    params: {size: 200, headers: true}
    stages:
      read: {uses: loader.files, with: {path: docs, max_files: "${params.size}"}}
      chunk:
        uses: chunker.tokens
        with: {chunk_size: "${params.size}", overlap: "${env:OVERLAP}", source_header: "${params.headers}"}
        inputs: {documents: read.output}
"""


def test_schema_accepts_placeholders_in_typed_with_fields_and_still_checks_plain_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import jsonschema
    import yaml

    main(["schema"])
    validator = jsonschema.Draft202012Validator(json.loads(capsys.readouterr().out))
    doc = yaml.safe_load(PLACEHOLDERS_IN_TYPED_FIELDS)
    assert [e.message for e in validator.iter_errors(doc)] == []
    doc["pipelines"]["p"]["stages"]["chunk"]["with"]["chunk_size"] = "many"
    assert list(validator.iter_errors(doc))
    doc["pipelines"]["p"]["stages"]["chunk"]["with"]["chunk_size"] = 200
    doc["resources"]["minilm"]["with"]["batch_size"] = "many"
    assert list(validator.iter_errors(doc))


def test_make_schema_writes_the_committed_schema() -> None:
    done = subprocess.run(["make", "-n", "schema"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "dagwright schema > docs/pipelines.schema.json" in done.stdout


@pytest.mark.parametrize("flag", ["-f", "--file"])
def test_file_option_works_after_the_command_too(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", flag, str(REPO / "pipelines.yaml")]) == 0
    assert main(["list", flag, str(REPO / "pipelines.yaml")]) == 0
    assert "docs-report" in capsys.readouterr().out


def test_file_option_after_the_command_wins_over_one_before(tmp_path: Path) -> None:
    assert main(["-f", str(tmp_path / "nope.yaml"), "validate", "-f", str(REPO / "pipelines.yaml")]) == 0


@pytest.mark.parametrize("command", [["run", "p", "--local"], ["check", "p"]])
def test_a_failed_stage_shows_one_line_and_its_traceback_with_v(
    command: list[str], write_pipelines, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_pipelines(buggy())
    assert main(["-f", str(path), *command]) == 1
    quiet = capsys.readouterr().out
    assert "KeyError: 'source'" in quiet and "Traceback" not in quiet
    assert main(["-f", str(path), *command, "-v"]) == 1
    verbose = capsys.readouterr().out
    assert "Traceback (most recent call last):" in verbose
    assert 'return [row["source"] for row in rows]' in verbose
