"""Every component's docstring carries a YAML example; each must be a valid stage for that component."""

from __future__ import annotations

import inspect
import re

import pytest
import yaml

from flows.language.refs import ParamRef, placeholders, walk_strings
from flows.language.spec import Param, ResourceSpec, Stage
from flows.plan.registry import discover
from flows.plan.stageparams import trial_params

REGISTRY = discover()
EXAMPLE = re.compile(r"```yaml\n(.*?)```", re.S)


def example_of(name: str) -> dict:
    doc = inspect.getdoc(REGISTRY.components[name]) or ""
    found = EXAMPLE.findall(doc)
    assert found, f"{name} has no ```yaml example in its docstring"
    return yaml.safe_load(found[0])


@pytest.mark.parametrize("name", REGISTRY.names())
def test_docstring_example_is_a_valid_stage(name: str) -> None:
    stage = Stage.model_validate(example_of(name))
    assert stage.uses == name
    referenced = {
        ref.name for _, text in walk_strings(stage.with_) for ref in placeholders(text) if isinstance(ref, ParamRef)
    }
    declared = {p: Param(type="string") for p in referenced}  # required: their values are checked per run
    trial = trial_params(REGISTRY.components[name].Params, stage.with_, declared)
    assert trial.errors == []


@pytest.mark.parametrize("name", sorted(REGISTRY.resource_types))
def test_resource_type_docstring_example_declares_valid_resources(name: str) -> None:
    cls = REGISTRY.resource_types[name]
    found = EXAMPLE.findall(inspect.getdoc(cls) or "")
    assert found, f"{name} has no ```yaml example in its docstring"
    declared = yaml.safe_load(found[0])["resources"]
    specs = [ResourceSpec.model_validate(body) for body in declared.values()]
    assert {s.uses for s in specs} == {name}
    for spec in specs:
        assert trial_params(cls.Params, spec.with_, {}).errors == []
