"""Haystack components as stages: Document conversion, ports from sockets, the allowlist, warm_up, and real
Haystack components mixed with dagwright's own in one pipeline, under both executors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from haystack import Document as HaystackDocument

from components.documents import Document
from components.haystack import ALIASES, from_haystack, haystack_stage, to_haystack
from flows.errors import RegistryError
from flows.execute.local import run_local
from flows.language.load import load
from flows.plan.planner import plan_pipeline
from flows.plan.registry import discover
from tests.conftest import REPO
from tests.flows.test_executors import Runner, execute  # noqa: F401 - the fixture runs each executor
from tests.helpers.files import write_tree
from tests.helpers.pipelines import HAYSTACK_MIX

CLEANER = "haystack.components.preprocessors.DocumentCleaner"


def test_documents_round_trip_through_haystack_unchanged() -> None:
    vector = np.array([0.1, -0.25, 1 / 3], dtype=np.float32)
    doc = Document(id="d1", content="text", meta={"source": "a.md", "page": 2}, embedding=vector, score=0.75)
    converted = to_haystack(doc)
    assert isinstance(converted, HaystackDocument)
    assert (converted.id, converted.content, converted.meta, converted.score) == ("d1", "text", doc.meta, 0.75)
    # Haystack keeps list[float]; dagwright's stores and embedders expect float32 vectors, bit for bit the same.
    assert type(converted.embedding) is list and type(converted.embedding[0]) is float
    back = from_haystack(converted)
    assert back == doc and back.score == 0.75
    assert back.embedding.dtype == np.float32 and np.array_equal(back.embedding, vector)


def test_none_fields_stay_none_and_missing_content_becomes_empty_text() -> None:
    back = from_haystack([HaystackDocument(id="h1", content=None, meta={})])
    assert back == [Document(id="h1", content="", meta={})]
    assert back[0].embedding is None and back[0].score is None
    there = to_haystack([Document(id="d2", content="x")])
    assert there[0].embedding is None and there[0].score is None and there[0].meta == {}


def test_values_other_than_documents_pass_unchanged() -> None:
    for value in ("text", [], [1, 2], {"k": "v"}, None):
        assert to_haystack(value) == value and from_haystack(value) == value


def test_ports_are_the_sockets_with_dagwright_documents() -> None:
    joiner = discover().resolve("haystack.joiner")
    ports = joiner.ports(joiner.Params())
    assert list(ports.outputs) == ["documents"]
    assert ports.outputs["documents"].type == list[Document]
    # A variadic socket takes one sender per numbered port; only the first is required.
    senders = [p for p in ports.inputs.values() if p.name.startswith("documents")]
    assert [(p.name, p.required) for p in senders] == [
        ("documents", True),
        ("documents_2", False),
        ("documents_3", False),
        ("documents_4", False),
    ]
    assert ports.inputs["top_k"].required is False


def test_a_prompt_builders_ports_come_from_its_template() -> None:
    builder = discover().resolve("haystack:haystack.components.builders.PromptBuilder")
    ports = builder.ports(builder.Params(template="{{ question }} {{ context }}"))
    assert {"question", "context"} <= set(ports.inputs)


def test_alias_and_full_path_are_one_component_identified_by_path_and_haystack_version() -> None:
    import haystack

    cls = discover().resolve("haystack.cleaner")
    assert cls is discover().resolve(f"haystack:{CLEANER}") is haystack_stage(CLEANER)
    assert cls.name == f"haystack:{CLEANER}"
    assert cls.version == f"haystack-{haystack.__version__}"


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_every_alias_names_a_haystack_component(alias: str) -> None:
    import importlib

    module, _, name = ALIASES[alias].rpartition(".")
    cls = discover().resolve(alias)
    assert cls.target is getattr(importlib.import_module(module), name)
    assert cls.name == f"haystack:{ALIASES[alias]}"


def test_a_module_outside_the_allowlist_is_never_imported() -> None:
    probe = (
        "import sys\nfrom flows.plan.registry import discover\nfrom flows.errors import RegistryError\n"
        "try:\n    discover().resolve('haystack:this.Zen')\nexcept RegistryError as e:\n    print(e)\n"
        "print('this' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines()[-2:] == [
        "'haystack:this.Zen' is not allowed: only classes under 'haystack.', 'haystack_integrations.' or the "
        "project's 'components.' can be named, so a pipelines file cannot import arbitrary code",
        "False",
    ]


def test_a_class_that_is_not_a_haystack_component_is_refused() -> None:
    with pytest.raises(RegistryError, match="'haystack.Document' is not a Haystack component"):
        discover().resolve("haystack:haystack.Document")


def mixed_project(root: Path) -> tuple[Path, dict[str, object]]:
    write_tree(
        root,
        {
            "pipelines.yaml": HAYSTACK_MIX,
            "texts/a.txt": "DRAFT  Haystack   converts text files.\n\n\nMore text.\n",
            "notes/b.md": "# Notes\n\nDagwright chunks markdown by section.\n\n## Two\n\nSecond section.\n",
        },
    )
    return root / "pipelines.yaml", {"sources": [str(root / "texts/a.txt")], "folder": str(root / "notes")}


@pytest.mark.usefixtures("project_in_tmp_path")  # loader.files reads under the project root
def test_haystack_and_dagwright_components_run_in_one_pipeline(execute: Runner, tmp_path: Path) -> None:  # noqa: F811
    path, params = mixed_project(tmp_path / "proj")
    plan = plan_pipeline(load(path), "p")
    result = execute(plan, params).raise_for_status()
    cleaned = result.output("clean", "documents")
    assert [d.content for d in cleaned] == [" Haystack converts text files. More text."]
    joined = result.output("join", "documents")
    assert len(joined) == 3 and all(isinstance(d, Document) for d in joined)
    embedded = result.output("embed")
    assert all(d.embedding.dtype == np.float32 and d.embedding.shape == (384,) for d in embedded)
    prompt = result.output("prompt", "prompt")
    assert prompt.startswith("[a.txt]  Haystack converts text files.") and "[b.md] ## Two" in prompt
    assert prompt.endswith("Q: What do the notes say?")


def test_haystack_stages_are_cached_by_init_args(tmp_path: Path) -> None:
    path, params = mixed_project(tmp_path / "proj")
    assert run_local(plan_pipeline(load(path), "p"), params).stages["clean"].status == "completed"
    assert run_local(plan_pipeline(load(path), "p"), params).stages["clean"].status == "cached"
    path.write_text(path.read_text().replace("remove_substrings: [DRAFT]", "remove_substrings: [More]"))
    again = run_local(plan_pipeline(load(path), "p"), params)
    assert again.stages["clean"].status == "completed"
    text = again.output("clean", "documents")[0].content
    assert text.startswith("DRAFT Haystack") and "More" not in text


WARMING = '''
from haystack import component

CALLS = []


@component
class Greeter:
    """A project's own Haystack component whose run() needs warm_up() first."""

    def __init__(self, greeting: str = "hello"):
        self.greeting = greeting
        self.ready = False

    def warm_up(self):
        CALLS.append("warm_up")
        self.ready = True

    @component.output_types(text=str, calls=list)
    def run(self, name: str):
        assert self.ready, "run before warm_up"
        CALLS.append("run")
        return {"text": f"{self.greeting} {name}", "calls": list(CALLS)}
'''


def test_warm_up_runs_once_before_the_first_run_for_a_project_haystack_component(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "proj",
        {
            "components/__init__.py": "",
            "components/greeting.py": WARMING,
            "pipelines.yaml": """
            pipelines:
              p:
                params: {who: ada}
                stages:
                  first:
                    uses: haystack:components.greeting.Greeter
                    with: {greeting: hi}
                    inputs: {name: "${params.who}"}
                  second:
                    uses: haystack:components.greeting.Greeter
                    with: {greeting: hi}
                    inputs: {name: first.text}
            """,
        },
    )
    result = run_local(plan_pipeline(load(root / "pipelines.yaml"), "p"), use_cache=False).raise_for_status()
    assert result.output("second", "text") == "hi hi ada"
    # One instance serves both stages (same class and init args): warmed up once, before its first run.
    assert result.output("second", "calls") == ["warm_up", "run", "run"]


def test_readme_example_plans(tmp_path: Path) -> None:
    section = (REPO / "README.md").read_text().split("### Haystack components", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    plan = plan_pipeline(load(write_tree(tmp_path, {"pipelines.yaml": example}) / "pipelines.yaml"), "ask-notes")
    assert [s.uses for s in plan.stages if s.uses.startswith("haystack")] == [
        f"haystack:{CLEANER}",
        "haystack.prompt_builder",
    ]


def test_writers_are_never_cached_and_skipped_by_check_generators_are_not_cached() -> None:
    writer = discover().resolve("haystack:haystack.components.writers.DocumentWriter")
    assert (writer.writes, writer.cacheable) == (True, False)
    generator = discover().resolve("haystack:haystack.components.generators.chat.OpenAIChatGenerator")
    assert (generator.writes, generator.cacheable) == (False, False)
    assert discover().resolve("haystack.cleaner").cacheable


def test_the_cache_key_holds_the_component_classs_own_source() -> None:
    import hashlib
    import inspect

    from haystack.components.preprocessors import DocumentCleaner

    cleaner = discover().resolve("haystack.cleaner")
    source = Path(inspect.getfile(DocumentCleaner)).read_bytes()
    assert cleaner.fingerprint(cleaner.Params()) == hashlib.sha256(source).hexdigest()


def test_the_modules_docstring_example_is_a_valid_stage() -> None:
    import yaml

    import components.haystack
    from flows.language.spec import Stage
    from flows.plan.stageparams import trial_params

    example = (components.haystack.__doc__ or "").split("```yaml\n", 1)[1].split("```", 1)[0]
    stage = Stage.model_validate(yaml.safe_load(example))
    cls = discover().resolve(stage.uses)
    assert trial_params(cls.Params, stage.with_, {}).errors == []
