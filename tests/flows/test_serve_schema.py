"""Schemathesis against `dagwright serve`'s OpenAPI spec: generated requests, valid and not, to every route of the
real app (deterministic pipelines, no model). No response may be a 500 or break the spec."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import schemathesis

from flows.language.load import load
from flows.plan.planner import plan_project
from flows.serve.app import create_app
from flows.serve.settings import ServeSettings
from tests.helpers.servefns import ECHO_PIPELINE

PIPELINES = "version: 1\npipelines:" + ECHO_PIPELINE + "\n"


def _app() -> Any:
    # Made at import, as schemathesis generates the test cases from the schema then (its from_fixture fails on
    # pytest 9). The folder holds only this file; runs keep their results under each test's DAGWRIGHT_HOME.
    file = Path(tempfile.mkdtemp(prefix="dagwright-serve-schema-")) / "pipelines.yaml"
    file.write_text(PIPELINES)
    return create_app(plan_project(load(file)), ServeSettings(key_rate=0, org_rate=0))  # every request answered


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
def test_no_500s_and_no_schema_violations(case: Any) -> None:
    case.call_and_validate()
