"""`dagwright --help` and each command's help: a description and examples; shell completion that works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli.completion import script
from flows.cli.help import COMMANDS
from flows.cli.main import _parser, main
from tests.conftest import REPO


def subcommands() -> dict[str, object]:
    import argparse

    parser = _parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_has_a_description_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    names = subcommands()
    assert set(names) == set(COMMANDS), "a command without help text, or help text for no command"
    for name in names:
        with pytest.raises(SystemExit) as exited:
            main([name, "--help"])
        assert exited.value.code == 0
        out = capsys.readouterr().out
        description, examples = COMMANDS[name]
        assert description.split()[0] in out, name
        assert "\nexamples:\n" in out and all(f"  {line}\n" in out for line in examples), name


def test_main_help_lists_commands_examples_and_completion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "examples:\n  dagwright validate\n" in out
    assert "dagwright completion bash|zsh|fish" in out


def test_list_names_prints_one_pipeline_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-f", str(REPO / "pipelines.yaml"), "list", "--names"]) == 0
    assert capsys.readouterr().out.split() == [
        "rag-ingest",
        "rag-query",
        "docs-report",
        "usage-report",
        "drift-check",
        "features-apply",
        "features-materialize",
        "features-training-set",
        "features-online",
        "doc-classifier-train",
        "doc-classify",
        "doc-classifier-promote",
        "record-outcome",
    ]


def complete(line: str, cwd: Path) -> list[str]:
    """What bash offers for ``line`` (the cursor at its end), with the generated script and the real CLI."""
    words = line.split(" ")
    program = "\n".join(
        [
            script("bash", _parser()),
            f"COMP_WORDS=({' '.join(repr(w) for w in words)})",
            f"COMP_CWORD={len(words) - 1}",
            "_dagwright",
            'printf "%s\\n" "${COMPREPLY[@]}"',
        ]
    )
    # `dagwright` on PATH is this checkout's, as after `pip install`.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, cwd=cwd, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return [w for w in done.stdout.splitlines() if w]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_options_choices_and_pipeline_names(tmp_path: Path) -> None:
    assert complete("dagwright de", REPO) == ["deploy"]
    assert "--no-cache" in complete("dagwright run --no", REPO)
    assert complete("dagwright run rag-", REPO) == ["rag-ingest", "rag-query"]
    assert complete("dagwright deploy --pipeline docs", REPO) == ["docs-report"]
    assert complete("dagwright cache c", REPO) == ["clear"]
    assert complete("dagwright cache clear rag-q", REPO) == ["rag-query"]
    assert complete("dagwright completion f", REPO) == ["fish"]
    # Pipelines of the file given with -f, from anywhere.
    assert complete(f"dagwright -f {REPO / 'pipelines.yaml'} show docs", tmp_path) == ["docs-report"]


def test_zsh_and_fish_scripts_name_every_command() -> None:
    zsh, fish = script("zsh", _parser()), script("fish", _parser())
    assert zsh.startswith("(( $+functions[compdef] ))") and "complete -o default -F _dagwright dagwright" in zsh
    for name in subcommands():
        assert f" -a {name} -d " in fish
    assert "__fish_seen_subcommand_from run' -s p" in fish
    assert "-a '(dagwright list --names 2>/dev/null)'" in fish


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh")
def test_zsh_script_parses() -> None:
    done = subprocess.run(["zsh", "-n"], input=script("zsh", _parser()), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="needs fish")
def test_fish_script_parses() -> None:
    done = subprocess.run(["fish", "-n"], input=script("fish", _parser()), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_completion_imports_no_heavy_library() -> None:
    code = (
        "import sys\nfrom flows.cli.main import main\nmain(['completion', 'bash'])\n"
        "print([m in sys.modules for m in ('prefect', 'rich', 'typer', 'pandas')], file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "[False, False, False, False]"


def test_the_run_examples_name_params_the_shipped_pipelines_have() -> None:
    # An example read `-p folder=missing/`, and rag-ingest has no param `folder`: copied, it failed.
    from flows.language.load import load

    project = load(REPO / "pipelines.yaml")
    runs = [line.split() for _, examples in COMMANDS.values() for line in examples if line.startswith("dagwright run ")]
    for words in runs:
        pipeline = project.spec.pipelines[words[2]]
        given = [words[i + 1].split("=")[0] for i, w in enumerate(words) if w in ("-p", "--param")]
        assert set(given) <= set(pipeline.params), " ".join(words)
