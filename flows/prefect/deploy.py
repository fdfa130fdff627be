"""Prefect deployments from pipelines.yaml, with their schedules and params, served by this process.

`dagwright deploy` makes the server's deployments match the file, and re-running it changes nothing:
- a deployment is ``<pipeline>/<pipeline>``, updated in place (same id, same schedule id), never duplicated;
- every deployment dagwright creates carries the tag ``dagwright``; one of those whose pipeline is no longer in
  the file is deleted (deploying some pipelines with ``--pipeline`` still removes only pipelines gone from it);
- a schedule carries a slug, so a re-deploy patches it rather than replacing it, and leaves its ``active`` flag
  alone: a schedule paused in the UI stays paused (the YAML's ``active`` is what a new schedule starts with);
- serving pauses the deployments when it stops, as Prefect's ``serve`` does, so runs do not pile up while nothing
  serves them. The next deploy resumes only those: it records their ids, so a deployment paused in the UI (not by
  the shutdown) stays paused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows.language import params as run_params
from flows.plan.planner import Plan
from flows.prefect.executor import ENTRYPOINT_MODULE, build_flow, flow_function_name

DAGWRIGHT_TAG = "dagwright"
SCHEDULE_SLUG = "pipelines-yaml"  # the one schedule a pipeline declares, as the server knows it


@dataclass
class Deployed:
    """What a deploy prepared: the deployments to apply, the stale ones it removes, those kept paused."""

    deployments: list[Any] = field(default_factory=list)
    stale: dict[str, Any] = field(default_factory=dict)  # "flow/name" -> deployment id
    kept_paused: list[str] = field(default_factory=list)


class PausedOnExit:
    """The ids of the deployments that serving paused when it stopped, per API URL, in the project's state folder:
    how the next deploy tells its own pause (resume it) from one made in the UI (keep it)."""

    def __init__(self, path: Path, api: str) -> None:
        self.path, self.api = path, api

    def _read(self) -> dict[str, list[str]]:
        try:
            return dict(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            return {}

    def ids(self) -> set[str]:
        return set(self._read().get(self.api, []))

    def add(self, ids: Iterable[Any]) -> None:
        self._write(self.ids() | {str(i) for i in ids})

    def forget(self, ids: Iterable[Any]) -> None:
        self._write(self.ids() - {str(i) for i in ids})

    def _write(self, ids: set[str]) -> None:
        recorded = self._read()
        recorded[self.api] = sorted(ids)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(recorded, indent=2))


def deployment_for(plan: Plan, existing: Any = None, paused_by_us: set[str] | None = None) -> Any:
    """The deployment of ``plan``; ``existing`` is the server's current one of the same name, if any."""
    from prefect.types.entrypoint import EntrypointType

    flow = build_flow(plan)
    deployment = flow.to_deployment(
        name=plan.name,
        description=plan.pipeline.description or None,
        tags=list(dict.fromkeys([*plan.pipeline.tags, DAGWRIGHT_TAG])),
        parameters={k: p.default for k, p in plan.pipeline.params.items() if not p.required},
        version=plan.fingerprint,
        entrypoint_type=EntrypointType.MODULE_PATH,
        paused=_keeps_pause(existing, paused_by_us or set()),
    )
    deployment.schedules = _schedules(plan, existing)
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


def _keeps_pause(existing: Any, paused_by_us: set[str]) -> bool | None:
    """True keeps a deployment paused in the UI; None lets Prefect resume it (new, active, or paused by us)."""
    if existing is not None and existing.paused and str(existing.id) not in paused_by_us:
        return True
    return None


def _schedules(plan: Plan, existing: Any) -> list[Any]:
    from prefect.client.schemas.actions import DeploymentScheduleCreate, DeploymentScheduleUpdate

    wanted = _yaml_schedule(plan)
    if wanted is None:
        return []
    created = DeploymentScheduleCreate.from_schedule(wanted)
    current = next((s for s in getattr(existing, "schedules", []) if s.slug == SCHEDULE_SLUG), None)
    if current is None:
        return [created]
    # Only the slug, plus the schedule if it changed: the server patches the one it has and keeps its `active`
    # and, for an unchanged interval, its anchor date (a new one would move every future run).
    if _same_schedule(current.schedule, created.schedule):
        return [DeploymentScheduleUpdate(slug=SCHEDULE_SLUG)]
    return [DeploymentScheduleUpdate(slug=SCHEDULE_SLUG, schedule=created.schedule)]


def _same_schedule(old: Any, new: Any) -> bool:
    fields = ("cron", "interval", "timezone", "day_or")
    return type(old) is type(new) and all(getattr(old, f, None) == getattr(new, f, None) for f in fields)


def _yaml_schedule(plan: Plan) -> Any:
    from datetime import timedelta

    from prefect.schedules import Cron, Interval

    schedule = plan.pipeline.schedule
    if schedule is None:
        return None
    common: dict[str, Any] = {"timezone": schedule.timezone, "active": schedule.active, "slug": SCHEDULE_SLUG}
    if schedule.cron:
        from flows.language.spec import CRON_ALIASES

        return Cron(CRON_ALIASES.get(schedule.cron.strip(), schedule.cron), **common)
    return Interval(timedelta(seconds=schedule.interval or 0), **common)


def prepare(plans: dict[str, Plan], chosen: list[Plan], paused_by_us: set[str]) -> Deployed:
    """The deployments of ``chosen`` against what the server has, and the dagwright deployments whose pipeline
    is no longer among ``plans`` (the whole file: deploying one pipeline removes no other)."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        current = _dagwright_deployments(client)
        if _drop_removed_schedules(client, chosen, current):
            current = _dagwright_deployments(client)  # as they are now
    deployed = Deployed()
    for plan in chosen:
        existing = current.get(f"{plan.name}/{plan.name}")
        deployed.deployments.append(deployment_for(plan, existing, paused_by_us))
        if _keeps_pause(existing, paused_by_us):
            deployed.kept_paused.append(f"{plan.name}/{plan.name}")
    deployed.stale = {name: d.id for name, d in current.items() if name not in {f"{p}/{p}" for p in plans}}
    return deployed


def _dagwright_deployments(client: Any) -> dict[str, Any]:
    """The server's deployments tagged ``dagwright``, by ``flow/name``."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags, FlowFilter, FlowFilterId

    tagged = DeploymentFilter(tags=DeploymentFilterTags(all_=[DAGWRIGHT_TAG]))
    deployments = client.read_deployments(deployment_filter=tagged)
    if not deployments:
        return {}
    ids = list({d.flow_id for d in deployments})
    flows = {f.id: f.name for f in client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=ids)))}
    return {f"{flows.get(d.flow_id, '?')}/{d.name}": d for d in deployments}


def _drop_removed_schedules(client: Any, chosen: list[Plan], current: dict[str, Any]) -> int:
    """Delete our schedule of a pipeline whose YAML no longer has one (an update that sends no schedules leaves
    the server's in place); how many were deleted."""
    dropped = 0
    for plan in chosen:
        existing = current.get(f"{plan.name}/{plan.name}")
        if existing is None or plan.pipeline.schedule is not None:
            continue
        for schedule in existing.schedules:
            if schedule.slug == SCHEDULE_SLUG:
                client.delete_deployment_schedule(existing.id, schedule.id)
                dropped += 1
    return dropped


def remove_stale(stale: dict[str, Any]) -> None:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        for deployment_id in stale.values():
            client.delete_deployment(deployment_id)


def pause_served(ids: Iterable[Any], record: PausedOnExit) -> None:
    """Pause the served deployments that are still active, and record that we did; one already paused was paused
    by someone else while we served, and stays theirs."""
    from prefect import get_client

    paused = []
    with get_client(sync_client=True) as client:
        for deployment_id in ids:
            if not client.read_deployment(deployment_id).paused:
                client.pause_deployment(deployment_id)
                paused.append(deployment_id)
    record.add(paused)


def apply_plans(
    plans: dict[str, Plan], chosen: list[Plan], record: PausedOnExit, add: Callable[[Any], Any] | None = None
) -> list[Any]:
    """Make the server's dagwright deployments match the file: apply ``chosen`` (with ``add``: a runner's
    ``add_deployment`` when serving; ``apply()`` by default) and remove the stale ones. Returns their ids."""
    deployed = prepare(plans, chosen, record.ids())
    remove_stale(deployed.stale)
    for name in deployed.stale:
        print(f"removed deployment {name}: its pipeline is no longer in the pipelines file", flush=True)
    for name in deployed.kept_paused:
        print(f"deployment {name} stays paused (paused in the UI; resume it there)", flush=True)
    ids = [(add or (lambda d: d.apply()))(d) for d in deployed.deployments]
    record.forget(ids)  # each is active again, or kept paused as someone else's
    for deployment in deployed.deployments:
        print(f"deployed {deployment.flow_name}/{deployment.name}", flush=True)
    return ids


def serve_plans(plans: dict[str, Plan], chosen: list[Plan], pipelines_file: str, record: PausedOnExit) -> None:
    """Apply the deployments, serve ``chosen`` until interrupted (Ctrl-C stops cleanly), then pause them."""
    import asyncio

    from prefect.runner import Runner

    os.environ["DAGWRIGHT_PIPELINES"] = os.path.abspath(pipelines_file)
    # Our own shutdown pause (see pause_served) instead of the runner's, which cannot tell whose pause is whose.
    runner = Runner(pause_on_shutdown=False)
    ids = apply_plans(plans, chosen, record, runner.add_deployment)
    api = os.environ.get("PREFECT_API_URL")
    where = f" (start runs at {api.removesuffix('/api')}/deployments)" if api else ""
    print(f"serving them{where}; Ctrl-C stops", flush=True)
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass  # Ctrl-C is how serving stops
    finally:
        try:
            pause_served(ids, record)
        except Exception as exc:  # e.g. the server stopped first: its deployments are not served either way
            print(f"could not pause the served deployments: {type(exc).__name__}: {exc}", flush=True)
