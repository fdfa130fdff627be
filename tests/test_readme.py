"""README.md is part of the contract: every ```yaml block in it (indented ones in docstrings too) is valid
YAML, and it lists every builtin component."""

from __future__ import annotations

import re
import textwrap

import pytest
import yaml

from tests.conftest import REPO

README = (REPO / "README.md").read_text()
BUILTINS_START, BUILTINS_END = "<!-- builtin components: start -->", "<!-- builtin components: end -->"
YAML_BLOCK = re.compile(r"^([ \t]*)```yaml\n(.*?)^\1```", re.S | re.M)


def yaml_blocks() -> list[tuple[int, str]]:
    """(line, text) of each ```yaml block, dedented as far as its fence is."""
    return [(README.count("\n", 0, m.start()) + 1, textwrap.dedent(m.group(2))) for m in YAML_BLOCK.finditer(README)]


def test_readme_has_yaml_examples() -> None:
    assert len(yaml_blocks()) >= 3


@pytest.mark.parametrize(("line", "text"), yaml_blocks(), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_every_yaml_block_of_the_readme_parses(line: int, text: str) -> None:
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        pytest.fail(f"README.md:{line}: the ```yaml block is not valid YAML: {exc}")


def test_readme_lists_every_builtin_component_as_the_registry_describes_it() -> None:
    from flows.plan.catalog import markdown_list
    from flows.plan.registry import discover

    listed = README.split(BUILTINS_START, 1)[-1].split(BUILTINS_END, 1)[0].strip()
    expected = markdown_list(discover())
    assert listed == expected, (
        f"README.md's list of builtin components (between {BUILTINS_START} and {BUILTINS_END}) is out of date; "
        f"replace it with the output of `dagwright components --markdown`:\n{expected}"
    )


def test_the_resource_example_runs_as_written(tmp_path) -> None:
    """The README's own resource type and component, dropped into a project's components/, plan and run."""
    from flows.execute.local import run_local
    from flows.execute.session import close_session
    from flows.language.load import load
    from flows.plan.planner import plan_pipeline
    from tests.helpers.files import write_tree

    [code] = [
        m.group(1) for m in re.finditer(r"^```python\n(.*?)^```$", README, re.S | re.M) if "class Ledger" in m.group(1)
    ]
    pipelines = """
        resources:
          ledger: {uses: ledger.jsonl, with: {path: out/ledger.jsonl}}
        pipelines:
          p:
            params: {row: {type: object, default: {n: 1}}}
            stages:
              record: {uses: ledger.record, inputs: {row: "${params.row}"}}
    """
    root = write_tree(
        tmp_path / "project",
        {"components/__init__.py": "", "components/ledger.py": code, "pipelines.yaml": textwrap.dedent(pipelines)},
    )
    (root / "out").mkdir()
    plan = plan_pipeline(load(root / "pipelines.yaml"), "p")
    run_local(plan).raise_for_status()
    run_local(plan, {"row": {"n": 2}}).raise_for_status()
    close_session()
    assert (root / "out" / "ledger.jsonl").read_text().splitlines() == ['{"n": 1}', '{"n": 2}']


def test_the_cache_hooks_example_runs_as_written(tmp_path, monkeypatch) -> None:
    """The README's component with cache hooks: an edited referenced file is a miss, a shuffle is never cached."""
    from flows.execute.local import run_local
    from flows.execute.session import close_session
    from flows.language.load import load
    from flows.plan.planner import plan_pipeline
    from tests.helpers.files import write_tree

    blocks = re.finditer(r"^```python\n(.*?)^```$", README, re.S | re.M)
    [code] = [m.group(1) for m in blocks if "class Gloss(" in m.group(1)]
    pipelines = """
        pipelines:
          p:
            params: {text: "a cache key", shuffle: false}
            stages:
              gloss: {uses: text.gloss, with: {shuffle: "${params.shuffle}"}, inputs: {text: "${params.text}"}}
    """
    root = write_tree(
        tmp_path / "project",
        {
            "components/__init__.py": "",
            "components/gloss.py": code,
            "glossary.txt": "cache: kept results\nkey: what names them\n",
            "pipelines.yaml": textwrap.dedent(pipelines),
        },
    )
    monkeypatch.chdir(root)
    plan = plan_pipeline(load(root / "pipelines.yaml"), "p")
    try:
        status = [run_local(plan).raise_for_status().stages["gloss"].status for _ in range(2)]
        (root / "glossary.txt").write_text("cache: results kept for reuse\n")
        edited = run_local(plan).raise_for_status()
        assert [*status, edited.stages["gloss"].status] == ["completed", "cached", "completed"]
        assert edited.output("gloss") == ["cache: results kept for reuse"]
        shuffled = [run_local(plan, {"shuffle": True}).stages["gloss"].status for _ in range(2)]
        assert shuffled == ["completed", "completed"]
    finally:
        close_session()
