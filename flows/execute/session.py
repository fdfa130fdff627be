"""What a process keeps between stages and runs: open resources and component instances.

The engine owns their lifecycle. A resource opens once per process on first use (under a lock, so threads share
one), every stage and run of the process shares it, and it closes at exit, in the reverse order of opening. A
component instance is made once per component, params and resources and warmed up (`warm_up()`) before its first
run, so its state is reused too; it closes before the resources it may use. The process may be a CLI run, a Prefect
flow-run process or, later, the serving app, whose lifespan calls `close()` itself.

Resources are keyed by identity (type, version and resolved settings, hashed): two profiles that name different
stores `docs` get two stores, and two pipelines that declare the same store share one.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from components.base import Component, ComponentParams
from components.resources import Resource, ResourceContext
from flows.errors import DagwrightError
from flows.execute.hashing import content_hash
from flows.execute.secrets import Secrets
from flows.language.refs import mentions_env
from flows.plan.planner import Plan
from flows.plan.resources import PlannedResource
from flows.plan.stageparams import resolve_params

R = TypeVar("R", bound=Resource[Any])
T = TypeVar("T")
log = logging.getLogger("dagwright")


class ResourceError(DagwrightError):
    """A resource could not be opened; the message names it and says why."""


def state_dir(project_root: Path) -> Path:
    """The one folder where dagwright keeps what it makes (results, caches, quarantine, logs, its local Prefect
    home, embedded stores' defaults): `.dagwright` under the project root; DAGWRIGHT_HOME moves it."""
    return Path(os.environ.get("DAGWRIGHT_HOME") or project_root / ".dagwright")


class Session:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._opening: dict[str, threading.Lock] = {}
        self._open: dict[str, Resource[Any]] = {}  # identity -> open resource, in opening order
        self._secrets = Secrets()  # the env-read settings of the open resources, masked in close() warnings
        self._instances: dict[tuple[Any, ...], Component[Any]] = {}
        self._kept: dict[str, Any] = {}

    def resource(self, planned: PlannedResource, root: Path) -> Resource[Any]:
        """The open resource for ``planned``; opened on first use. Only the first caller opens it; the others
        wait for it, so a slow open (a model server) happens once."""
        identity, settings = resolve_resource(planned)
        with self._lock:
            if identity in self._open:
                return self._open[identity]
            gate = self._opening.setdefault(identity, threading.Lock())
        with gate:
            with self._lock:
                if identity in self._open:
                    return self._open[identity]
            context = ResourceContext(root, state_dir(root), Needed(self, planned, root))
            resource = planned.type(settings, context)
            _open(resource, planned)
            with self._lock:
                self._open[identity] = resource
                self._secrets += Secrets.of(secret_values(planned, settings))
            return resource

    def instance(
        self, cls: type[Component[Any]], params: ComponentParams, provider: Provider, uses: Mapping[str, str]
    ) -> Component[Any]:
        """One warmed-up instance per component, params and the identities of the resources it uses. The lock
        is held through warm_up, so concurrent stages never warm up one instance twice."""
        # Only the resources this stage names: another stage's resource may not even be configured here.
        key = (cls, content_hash(params), tuple(sorted(uses.items())))
        with self._lock:
            if key not in self._instances:
                self._instances[key] = open_instance(cls, params, provider)
            return self._instances[key]

    def keep(self, key: str, make: Callable[[], T]) -> T:
        """An engine helper made once per session (the Great Expectations context the gates validate with)."""
        with self._lock:
            if key not in self._kept:
                self._kept[key] = make()
            return self._kept[key]

    def close(self) -> None:
        """Close every component instance, then every open resource (newest first), as instances use resources.
        A failing close is logged, never raised: it runs at exit."""
        with self._lock:
            opened, self._open = list(self._open.values()), {}
            instances, self._instances = list(self._instances.values()), {}
        interrupted: KeyboardInterrupt | None = None
        for item in [*instances, *reversed(opened)]:
            try:
                item.close()
            except KeyboardInterrupt as exc:  # Ctrl-C while closing: still close the rest (an embedded server)
                interrupted = exc
            except Exception as exc:  # one that cannot close cleanly must not hide the run's outcome
                reason = self._secrets.scrub(f"{type(exc).__name__}: {exc}")
                log.warning("closing %s failed: %s", item.name, reason)
        if interrupted is not None:
            raise interrupted


def open_instance(cls: type[Component[Any]], params: ComponentParams, provider: Provider) -> Component[Any]:
    """A component ready to run: constructed (cheap), then warmed up (its heavy state, once)."""
    instance = cls(params, provider)
    instance.warm_up()
    return instance


def _open(resource: Resource[Any], planned: PlannedResource) -> None:
    try:
        resource.open()
    except Exception as exc:
        # Drivers quote their connection string in errors (psycopg: `missing "=" after "user:password@host"`):
        # the settings read from the environment are masked, and the driver's own exception is not chained.
        reason = Secrets.of(secret_values(planned, resource.params)).scrub(f"{type(exc).__name__}: {exc}")
        raise ResourceError(f"resource '{planned.name}' ({planned.uses}) could not open: {reason}") from None


def secret_values(planned: PlannedResource, settings: ComponentParams) -> list[str]:
    """The resolved values of the settings that came from `${env:...}`, longest first."""
    found = [str(getattr(settings, name)) for name, raw in planned.with_.items() if mentions_env(raw)]
    return sorted({v for v in found if v}, key=len, reverse=True)


def resolve_resource(planned: PlannedResource) -> tuple[str, ComponentParams]:
    """Its identity and settings for this process: `${env:...}` read now. The identity hashes the resolved
    settings, so a secret enters it only hashed, and a changed secret or setting is another resource; so is one
    whose named resources changed."""
    settings = resolve_params(planned.type.Params, planned.with_, {}, where=f"resource '{planned.name}'")
    parts: list[Any] = [planned.uses, planned.type.version, settings.model_dump(mode="json")]
    if planned.needs:  # only then, so the identities (and cache keys) of the others stay as they were
        parts.append({name: resolve_resource(needed)[0] for name, needed in planned.needs.items()})
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest(), settings


class Needed:
    """The resources a resource's settings name, as it reaches them from ``open()``: opened by the session
    on first use, shared like any other, and closed after it (the session closes the newest first)."""

    def __init__(self, session: Session, planned: PlannedResource, root: Path) -> None:
        self.session, self.planned, self.root = session, planned, root

    def get(self, name: str, kind: type[R]) -> R:
        needed = self.planned.needs.get(name)
        if needed is None:  # the planner links every name the settings give; this guards resources built by hand
            raise ResourceError(f"resource '{self.planned.name}' names no resource '{name}' in its settings")
        resource = self.session.resource(needed, self.root)
        if not isinstance(resource, kind):
            raise ResourceError(f"resource '{name}' is a {needed.uses}, not a {kind.__name__}")
        return resource

    def identity(self, name: str) -> str:
        return resolve_resource(self.planned.needs[name])[0]


class Provider:
    """The resources of one plan, as the components of its stages reach them by name."""

    def __init__(self, session: Session, plan: Plan) -> None:
        self.session, self.plan = session, plan
        self._identities: dict[str, str] = {}

    def get(self, name: str, kind: type[R]) -> R:
        planned = self.plan.resources[name]
        resource = self.session.resource(planned, self.plan.project_root)
        if not isinstance(resource, kind):  # the planner checked; this guards components built by hand
            raise ResourceError(f"resource '{name}' is a {planned.uses}, not a {kind.__name__}")
        return resource

    def identity(self, name: str) -> str:
        if name not in self._identities:
            self._identities[name] = resolve_resource(self.plan.resources[name])[0]
        return self._identities[name]


_session: Session | None = None
_session_lock = threading.Lock()


def current_session() -> Session:
    """The process's session, made on first use and closed at exit."""
    global _session
    with _session_lock:
        if _session is None:
            _session = Session()
            atexit.register(_session.close)
        return _session


def close_session() -> None:
    """Close the process's resources now (the CLI at the end of a command; tests between cases)."""
    global _session
    with _session_lock:
        session, _session = _session, None
    if session is not None:
        atexit.unregister(session.close)
        session.close()


def provider_for(plan: Plan, session: Session | None = None) -> Provider:
    return Provider(session or current_session(), plan)


def used_identities(stage_resources: tuple[tuple[str, str], ...], provider: Provider) -> Mapping[str, str]:
    """param -> identity of the resource it names: what a stage's cache key folds in."""
    return {param: provider.identity(name) for param, name in stage_resources}
