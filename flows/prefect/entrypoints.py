"""Importable flows for Prefect deployments.

A deployment names its flow by import path (``flows.prefect.entrypoints.rag_ingest``); the process that runs the flow
imports this module and asks for that attribute, and we build the flow from pipelines.yaml on demand. The file
comes from ``DAGWRIGHT_PIPELINES`` (set by ``dagwright deploy`` for the processes it starts) or ./pipelines.yaml.
"""

from __future__ import annotations

from typing import Any


def __getattr__(attribute: str) -> Any:
    if attribute.startswith("__"):
        raise AttributeError(attribute)
    import os

    from flows.language.load import find_pipelines_file, load
    from flows.plan.planner import plan_project
    from flows.prefect.executor import build_flow, flow_function_name

    file = find_pipelines_file(None).resolve()
    os.chdir(file.parent)  # relative paths in pipelines.yaml are relative to its folder, as under the CLI
    plans = plan_project(load(file))
    for name, plan in plans.items():
        if flow_function_name(name) == attribute:
            return build_flow(plan)
    raise AttributeError(f"no pipeline whose flow is named '{attribute}' in pipelines.yaml")
