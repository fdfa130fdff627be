"""Prefect deployments from pipelines.yaml, with their schedules and params, served by this process."""

from __future__ import annotations

import os
from typing import Any

from flows.language import params as run_params
from flows.plan.planner import Plan
from flows.prefect.executor import ENTRYPOINT_MODULE, build_flow, flow_function_name


def deployment_for(plan: Plan) -> Any:
    from prefect.types.entrypoint import EntrypointType

    flow = build_flow(plan)
    deployment = flow.to_deployment(
        name=plan.name,
        description=plan.pipeline.description or None,
        tags=plan.pipeline.tags,
        parameters={k: p.default for k, p in plan.pipeline.params.items() if not p.required},
        schedules=_schedules(plan),
        version=plan.fingerprint,
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    # Served runs execute in a fresh process that imports the flow by this path (see flows/entrypoints.py).
    deployment.entrypoint = f"{ENTRYPOINT_MODULE}.{flow_function_name(plan.name)}"
    _describe_params(deployment, plan)
    return deployment


def _describe_params(deployment: Any, plan: Plan) -> None:
    """Prefect builds the deployment's parameter schema from the flow's signature: a title, a type and a
    default. What the YAML also says of each param (description, bounds, enum, lengths, pattern) is added here,
    so the run form describes each field and the server, which enforces the schema by default, refuses a bad
    value before a run starts. RunnerDeployment keeps the schema in a private attribute and has no public way
    to set it; the browser tests (tests/integration/browser) read the result in the UI, so a change shows."""
    properties = deployment._parameter_openapi_schema.properties
    for name, param in plan.pipeline.params.items():
        properties[name].update(run_params.json_schema(param))


def _schedules(plan: Plan) -> list[Any]:
    from datetime import timedelta

    from prefect.schedules import Cron, Interval

    schedule = plan.pipeline.schedule
    if schedule is None:
        return []
    if schedule.cron:
        from flows.language.spec import CRON_ALIASES

        cron = CRON_ALIASES.get(schedule.cron.strip(), schedule.cron)
        return [Cron(cron, timezone=schedule.timezone, active=schedule.active)]
    return [Interval(timedelta(seconds=schedule.interval or 0), timezone=schedule.timezone, active=schedule.active)]


def serve_plans(plans: list[Plan], pipelines_file: str) -> None:
    """Register one deployment per plan and run them until interrupted (Ctrl-C stops cleanly)."""
    from prefect import serve

    os.environ["DAGWRIGHT_PIPELINES"] = os.path.abspath(pipelines_file)
    serve(*[deployment_for(p) for p in plans], print_starting_message=True)
