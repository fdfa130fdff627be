"""`dagwright usage`: what the LLM gateway's calls cost, from its usage records (components/gateway/usage.py)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flows.errors import DagwrightError, ParamError


def since_seconds(text: str) -> float | None:
    """Seconds back from now for ``30m``, ``12h``, ``1d``...; None for ``all``."""
    from components.usagereport import window_seconds

    try:
        return window_seconds(text)
    except ValueError as exc:
        raise ParamError(f"--since {exc}") from None


class UsageStoreError(DagwrightError):
    """The configured usage store cannot be read; the message names the resource, never its DSN."""


def cmd_usage(args: argparse.Namespace) -> int:
    from components.gateway.usage import summarize

    window = since_seconds(args.since)
    since = 0.0 if window is None else time.time() - window
    records, where = [], []
    for name, store in _stores(args):
        where.append(name)
        records += store(since)
    summary = summarize(sorted(records, key=lambda r: r.at), args.by or ())
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(render(summary, args.since, ", ".join(where)))
    return 0


Reader = Callable[[float], list[Any]]


def _stores(args: argparse.Namespace) -> list[tuple[str, Reader]]:
    """(what to call it, a reader of its records since a time) for each distinct store of the project's
    gateways under the chosen profile: the SQLite file under the state directory unless `usage_dsn` says
    PostgreSQL."""
    from components.gateway.usage import open_usage_store
    from flows.execute.session import state_dir

    root, dsns = _gateway_dsns(args)
    stores: list[tuple[str, Reader]] = []
    sqlite = state_dir(root) / "usage.sqlite"
    for dsn, resource in dsns.items():
        if dsn is None:
            stores.append((str(sqlite), open_usage_store(None, state_dir(root)).records if sqlite.exists() else _none))
        else:
            stores.append((f"PostgreSQL of resource '{resource}'", _postgres_reader(dsn, resource)))
    return stores


def _gateway_dsns(args: argparse.Namespace) -> tuple[Path, dict[str | None, str]]:
    """The project's root and each distinct `usage_dsn` (None: SQLite) of its gateways -> a resource using it."""
    from components.gateway.resource import LlmGateway
    from flows.execute.session import resolve_resource
    from flows.language.load import Locator, load
    from flows.plan.registry import discover
    from flows.plan.resources import plan_resources

    project = load(args.file, args.profile, display=args.display)
    declared, _, _ = plan_resources(project, discover(project.root), Locator(project.display, project.positions))
    dsns: dict[str | None, str] = {}
    for name, planned in declared.items():
        if issubclass(planned.type, LlmGateway):
            settings = resolve_resource(planned)[1]
            dsns.setdefault(getattr(settings, "usage_dsn", None), name)
    return project.root, dsns or {None: ""}


def _none(since: float) -> list[Any]:
    return []


def _postgres_reader(dsn: str, resource: str) -> Reader:
    def read(since: float) -> list[Any]:
        import psycopg

        from components.gateway.usage import open_usage_store
        from components.masking import Secrets

        store = open_usage_store(dsn, Path("."))
        try:
            return store.records(since)
        except psycopg.Error as exc:
            reason = Secrets.of([dsn]).scrub(f"{type(exc).__name__}: {exc}").strip().splitlines()[0]
            raise UsageStoreError(f"resource '{resource}': the usage store cannot be read: {reason}") from None
        finally:
            store.close()

    return read


def render(summary: dict[str, Any], since: str, where: str) -> str:
    from components.usagereport import render_text

    return render_text(
        summary, f"LLM usage since {since} ({where})" if since != "all" else f"LLM usage, all records ({where})"
    )
