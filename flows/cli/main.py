"""The `dagwright` command. Imports stay cheap: prefect is imported only by the commands that run flows."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

from flows import __version__
from flows.entrypoints import skip_empty_pydantic_plugin_scan
from flows.errors import DagwrightError, ParamError, SettingError, SpecError

EXIT_FAILED, EXIT_USAGE = 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_parser().parse_args(argv))


def entry() -> NoReturn:
    """The `dagwright` executable. A command that starts no thread and writes no file ends without tearing down
    the ~300 modules it imported, which the OS frees anyway: that teardown was ~30 ms of `dagwright validate`,
    1.1x of `python -c pass` (bench/engine.py, issue 7). atexit handlers still run and output is flushed."""
    args = _parser().parse_args()
    code = run_command(args)
    if args.command in _NOTHING_TO_FINALIZE:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def run_command(args: argparse.Namespace) -> int:
    skip_empty_pydantic_plugin_scan()  # before the first pydantic model is built
    try:
        enter_project(args)
        return int(args.command(args) or 0)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DagwrightError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ParamError | SettingError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if not close_resources():
            print("interrupted", file=sys.stderr)
            return 130  # noqa: B012 - a Ctrl-C while closing ends the command as one during it would


def close_resources() -> bool:
    """Close what the command opened (stores, model servers) before exiting, rather than leave it to atexit;
    False when a Ctrl-C came while closing (everything is still closed: see Session.close)."""
    session = sys.modules.get("flows.execute.session")
    try:
        if session is not None:
            session.close_session()
    except KeyboardInterrupt:
        return False
    return True


def enter_project(args: argparse.Namespace) -> None:
    """Work from the pipelines file's folder, so relative paths in it mean the same from anywhere (like dbt)."""
    args.display = None
    if getattr(args, "path", None) and args.file:
        raise ParamError(
            f"two pipelines files given ({args.file} and {args.path}): give one, with -f or after validate"
        )
    if args.file:
        from flows.language.load import find_pipelines_file

        file = find_pipelines_file(args.file).resolve()
        os.chdir(file.parent)
        # Messages name the file as the user gave it; it is read by its absolute path from the project folder.
        args.display, args.file = args.file, str(file)


def _parser() -> argparse.ArgumentParser:
    from flows.cli.help import MAIN_EXAMPLES, Formatter, examples_text

    parser = argparse.ArgumentParser(
        prog="dagwright",
        description="Declarative AI pipelines: YAML DAGs of components, run as Prefect flows.",
        epilog=examples_text(MAIN_EXAMPLES) + "\n\nshell completion: dagwright completion bash|zsh|fish --help",
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=f"dagwright {__version__}")
    file_help = "pipelines file (default: $DAGWRIGHT_PIPELINES or ./pipelines.yaml)"
    profile_help = "profile whose resources and defaults override the file's (default: $DAGWRIGHT_PROFILE)"
    parser.add_argument("-f", "--file", help=file_help)
    parser.add_argument("--profile", help=profile_help)
    # The same options after the command; SUPPRESS keeps a value given before the command when it is absent.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("-f", "--file", default=argparse.SUPPRESS, help=file_help)
    after.add_argument("--profile", default=argparse.SUPPRESS, help=profile_help)
    sub = _Commands(parser.add_subparsers(title="commands", metavar="COMMAND", required=True), after)

    p = sub.add_parser("validate", help="check a pipelines file; every problem with file:line:col")
    p.add_argument("path", nargs="?", help="pipelines file to check")
    p.set_defaults(command=cmd_validate)

    p = sub.add_parser("list", help="list pipelines")
    p.add_argument("--names", action="store_true", help="only the names, one a line")
    p.set_defaults(command=cmd_list)

    p = sub.add_parser("show", help="show a pipeline's DAG as text and Mermaid")
    p.add_argument("pipeline")
    p.add_argument("--mermaid", action="store_true", help="print only the Mermaid flowchart")
    p.set_defaults(command=cmd_show)

    p = sub.add_parser("run", help="run a pipeline (a Prefect flow; --local runs in process)")
    p.add_argument("pipeline")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="a run parameter")
    p.add_argument("--local", action="store_true", help="run in process, without Prefect")
    p.add_argument("--no-cache", action="store_true", help="recompute every stage, ignoring cached results")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show a failed stage's traceback, and Prefect's own log lines"
    )
    p.set_defaults(command=cmd_run)

    p = sub.add_parser("check", help="dry run: every stage and data-quality check, but nothing is written")
    p.add_argument("pipeline")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="a run parameter")
    p.add_argument("-v", "--verbose", action="store_true", help="show a failed stage's traceback")
    p.set_defaults(command=cmd_check)

    p = sub.add_parser("up", help="start a local Prefect server with its UI (Ctrl-C stops it)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4200)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the server to answer")
    p.set_defaults(command=cmd_up)

    p = sub.add_parser("serve", help="serve the `serve:` pipelines over HTTP (REST, SSE, OpenAI-compatible)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(command=cmd_serve)

    p = sub.add_parser("deploy", help="serve pipelines as Prefect deployments with their schedules")
    p.add_argument("pipelines", nargs="*", help="pipelines to deploy (default: all)")
    p.add_argument(
        "--pipeline", action="append", default=[], metavar="NAME", help="deploy only this pipeline (repeatable)"
    )
    p.set_defaults(command=cmd_deploy)

    p = sub.add_parser("resources", help="list resources, their types and the stages that use them")
    p.add_argument("--types", action="store_true", help="list the registered resource types instead")
    p.set_defaults(command=cmd_resources)

    p = sub.add_parser("cache", help="the result cache: `cache info`, `cache clear [PIPELINE]`")
    p.add_argument("action", choices=["info", "clear"])
    p.add_argument("pipeline", nargs="?", help="clear only this pipeline's results")
    p.set_defaults(command=cmd_cache)

    p = sub.add_parser("usage", help="cost, tokens, cache hits and latency of the LLM gateway's calls")
    p.add_argument("--since", default="1d", help="how far back: 30m, 12h, 1d, 7d... or all (default: 1d)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--by",
        action="append",
        choices=["endpoint", "key", "org"],
        help="also group by the caller's endpoint, API key id or organisation (`dagwright serve` requests); repeatable",
    )
    p.set_defaults(command=cmd_usage)

    sub.add_parser("schema", help="print the JSON Schema of pipelines.yaml").set_defaults(command=cmd_schema)
    p = sub.add_parser("components", help="list components with params and ports")
    p.add_argument("--markdown", action="store_true", help="only the builtin ones, as a Markdown list (README)")
    p.set_defaults(command=cmd_components)

    p = sub.add_parser("completion", help="print the shell completion script (bash, zsh or fish)")
    p.add_argument("shell", choices=["bash", "zsh", "fish"])
    p.set_defaults(command=cmd_completion)
    return parser


@contextlib.contextmanager
def _no_collections() -> Iterator[None]:
    """Loading and planning allocate objects that all live on (modules, classes, models): the ~60 garbage
    collections they set off freed nothing and cost ~8% of `dagwright validate` (bench/engine.py, issue 7)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Commands:
    """The subparsers, each given the options that may also come after the command."""

    def __init__(self, subparsers: Any, common: argparse.ArgumentParser) -> None:
        self.subparsers, self.common = subparsers, common

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        from flows.cli.help import help_for

        return self.subparsers.add_parser(name, parents=[self.common], **help_for(name), **kwargs)


def _plans(args: argparse.Namespace, path: str | None = None) -> dict[str, Any]:
    with _no_collections():
        from flows.language.load import load
        from flows.plan.planner import plan_project

        return plan_project(load(path or args.file, args.profile, display=None if path else args.display))


def _plan(args: argparse.Namespace) -> Any:
    with _no_collections():
        from flows.language.load import load
        from flows.plan.planner import plan_pipeline

        return plan_pipeline(load(args.file, args.profile, display=args.display), args.pipeline)


def print_notes(plans: Any) -> None:
    for plan in plans:
        for note in plan.notes:
            print(f"note: {note}")


def cmd_validate(args: argparse.Namespace) -> int:
    plans = _plans(args, args.path)
    print_notes(plans.values())
    stages = sum(len(p.stages) for p in plans.values())
    profile = f" (profile {args.profile})" if args.profile else ""
    print(f"ok: {len(plans)} pipeline{'s' if len(plans) != 1 else ''}, {stages} stages{profile}")
    return 0


def cmd_resources(args: argparse.Namespace) -> int:
    from components.resources import kind_name
    from flows.language.load import Locator, load
    from flows.plan.planner import plan_project
    from flows.plan.registry import discover
    from flows.plan.render import resources_table
    from flows.plan.resources import plan_resources

    project = load(args.file, args.profile, display=args.display)
    registry = discover(project.root)
    if args.types:
        for name, cls in sorted(registry.resource_types.items()):
            summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            print(f"{name:<20} {kind_name(cls):<15} {summary}")
        return 0
    plans = plan_project(project, registry)
    declared, _, _ = plan_resources(project, registry, Locator(project.display, project.positions))
    named_by: dict[str, list[str]] = {}
    for name, planned in declared.items():
        for needed in planned.needs:
            named_by.setdefault(needed, []).append(name)
    print(resources_table(plans, {n: (r.uses, r.kind) for n, r in declared.items()}, project.profile, named_by))
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    """Entries and bytes of the result cache (per pipeline), or remove them."""
    from flows.execute.cache import ResultStore
    from flows.execute.session import state_dir
    from flows.language.load import load

    project = load(args.file, args.profile, display=args.display)
    store = ResultStore(state_dir(project.root) / "results")
    if args.action == "clear":
        if args.pipeline:
            _known_pipeline(args.pipeline, [*project.spec.pipelines, *store.info().pipelines], project.display)
        count, size = store.clear(args.pipeline)
        which = f" of {args.pipeline}" if args.pipeline else ""
        print(f"removed {count} result{'s' if count != 1 else ''}{which} ({_bytes(size)}) from {store.root}")
        return 0
    if args.pipeline:
        raise ParamError("`cache info` takes no pipeline; it lists every pipeline's results")
    info = store.info()
    print(f"{store.root}: {info.entries} results, {_bytes(info.bytes)} of {_bytes(store.max_bytes)}")
    for name, (count, size) in sorted(info.pipelines.items()):
        print(f"  {name or '(unknown)':<24} {count:>6} results  {_bytes(size):>10}")
    return 0


def _known_pipeline(name: str, names: list[str], file: str) -> None:
    """A pipeline of the file, or one whose results are still cached (a since-removed pipeline's)."""
    from flows.language.load import did_you_mean

    if name not in names:
        known = ", ".join(sorted({n for n in names if n})) or "(none)"
        raise ParamError(
            f"no pipeline '{name}' in {file} or the cache{did_you_mean(name, names)}; pipelines are: {known}"
        )


def _bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def cmd_list(args: argparse.Namespace) -> int:
    plans = _plans(args)
    if args.names:
        print("\n".join(plans))
        return 0
    for name, plan in plans.items():
        p = plan.pipeline
        schedule = ""
        if p.schedule:
            schedule = f"  [{p.schedule.cron}]" if p.schedule.cron else f"  [every {p.schedule.interval:g}s]"
        print(f"{name:<24} {len(plan.stages):>2} stages{schedule}  {p.description}".rstrip())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from flows.plan.render import as_mermaid, as_text

    plan = _plan(args)
    if args.mermaid:
        print(as_mermaid(plan))
        return 0
    print(as_text(plan))
    print("\n```mermaid\n" + as_mermaid(plan) + "\n```")
    return 0


def _parse_params(pairs: list[str]) -> dict[str, str]:
    given = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParamError(f"--param takes NAME=VALUE, got {pair!r}")
        given[name.strip()] = value
    return given


def cmd_run(args: argparse.Namespace) -> int:
    from flows.execute.report import ConsoleReporter

    plan = _plan(args)
    params = plan.bind_params(_parse_params(args.param), from_text=True)  # bad params fail before any start-up
    print_notes([plan])
    if args.local:
        from flows.execute.local import run_local

        print(f"running {plan.name} in process")
        reporter = ConsoleReporter(verbose=args.verbose)
        result = run_local(plan, params, reporter=reporter, use_cache=not args.no_cache)
    else:
        result = _run_prefect(plan, params, args)
    return _finish(plan, result)


def cmd_check(args: argparse.Namespace) -> int:
    """Run stages and gates in process; stages that write (stores, sinks) only check their inputs."""
    from flows.execute.local import run_local
    from flows.execute.report import ConsoleReporter

    plan = _plan(args)
    params = plan.bind_params(_parse_params(args.param), from_text=True)
    print_notes([plan])
    writers = [s.id for s in plan.stages if s.component.writes]
    print(f"checking {plan.name} in process; not run, only checked: {', '.join(writers) or '(none)'}")
    result = run_local(plan, params, reporter=ConsoleReporter(verbose=args.verbose), use_cache=False, dry_run=True)
    return _finish(plan, result)


def _run_prefect(plan: Any, params: dict[str, Any], args: argparse.Namespace) -> Any:
    from flows.execute.report import ConsoleReporter

    where = configure_prefect(plan.project_root, verbose=args.verbose)
    print(f"running {plan.name} as a Prefect flow on {where}", flush=True)
    from flows.prefect.executor import build_flow, flow_arguments

    results: list[Any] = []
    flow = build_flow(plan, ConsoleReporter(verbose=args.verbose), results, use_cache=not args.no_cache)
    state = flow(**flow_arguments(plan, params), return_state=True)
    if not results:  # the flow failed before running any stage (e.g. the server went away)
        raise DagwrightError(f"flow run of '{plan.name}' ended {state.name}: {state.message}")
    run_id = getattr(state.state_details, "flow_run_id", None)
    if run_id and "PREFECT_API_URL" in os.environ:
        print(f"flow run: {os.environ['PREFECT_API_URL'].removesuffix('/api')}/runs/flow-run/{run_id}")
    return results[-1]


TEMPORARY_SERVER = "a temporary local server (start one with `dagwright up`)"


def configure_prefect(project_root: Path, *, verbose: bool) -> str:
    """Point Prefect at a running server when there is one, else its temporary server; quiet its console."""
    from flows.execute.session import state_dir
    from flows.prefect.server import api_url, is_healthy, prefect_env, recorded_url

    state = state_dir(project_root)
    for key, value in prefect_env(state).items():
        os.environ.setdefault(key, value)
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)  # Prefect warns if it is missing
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if not verbose:
        # The API handler keeps every log line for the UI; only the terminal is spared Prefect's chatter.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    if "PREFECT_API_URL" not in os.environ:
        found = recorded_url(state) or (api_url() if is_healthy(api_url()) else None)
        if found:
            os.environ["PREFECT_API_URL"] = found
    return os.environ.get("PREFECT_API_URL", TEMPORARY_SERVER)


def _finish(plan: Any, result: Any) -> int:
    from flows.execute.outputs import final_outputs
    from flows.execute.report import summary_markdown
    from flows.execute.secrets import secrets_of_run

    secrets = secrets_of_run(plan, result.params)
    # Only the name is bold: a blanket replace of "**" would also eat into a masked "***".
    print(secrets.scrub(summary_markdown(result).replace(f"**{result.pipeline}**", result.pipeline, 1)))
    for output in final_outputs(plan, result):
        print(secrets.scrub(present(output.label, output.value)))
    return 0 if result.ok else EXIT_FAILED


def present(label: str, value: Any) -> str:
    """A final output for the terminal: as the value presents itself (components.base.Presentable), else a short
    repr."""
    from components.base import Presentable
    from flows.execute.outputs import short_repr

    if isinstance(value, Presentable):
        text = value.present()
        return f"{label}:\n{text}" if "\n" in text else f"{label} = {text}"
    return f"{label} = {short_repr(value)}"


def cmd_up(args: argparse.Namespace) -> int:
    from flows.execute.session import state_dir
    from flows.prefect.server import run_up

    return run_up(state_dir(Path.cwd()), args.host, args.port, args.timeout)


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.serve.server import serve

    return serve(_plans(args), host=args.host, port=args.port)


def cmd_deploy(args: argparse.Namespace) -> int:
    from flows.language.load import did_you_mean, find_pipelines_file

    plans = _plans(args)
    names = [*args.pipelines, *args.pipeline]
    unknown = [n for n in names if n not in plans]
    if unknown:
        raise ParamError(
            f"no pipeline '{unknown[0]}'{did_you_mean(unknown[0], plans)}; pipelines are: {', '.join(plans)}"
        )
    chosen = [plans[n] for n in dict.fromkeys(names or plans)]
    if not chosen:
        raise DagwrightError("no pipelines to deploy: pipelines.yaml defines none")
    if args.profile:  # the processes that run the deployments' flows load the file under the same profile
        os.environ["DAGWRIGHT_PROFILE"] = args.profile
    where = configure_prefect(chosen[0].project_root, verbose=True)
    print(f"deploying {len(chosen)} pipeline(s) to {where}; Ctrl-C stops serving them", flush=True)
    from flows.execute.session import state_dir
    from flows.prefect.deploy import PausedOnExit, serve_plans
    from flows.prefect.server import recorded_url

    state = state_dir(chosen[0].project_root)
    # A temporary server and `dagwright up` share the project's database: what serving paused on one, a deploy to
    # the other must resume (it was kept paused "as paused in the UI" for good).
    local = where == TEMPORARY_SERVER or where == recorded_url(state)
    record = PausedOnExit(state / "deploy-paused.json", "this project's local server" if local else where)
    serve_plans(plans, chosen, str(find_pipelines_file(args.file)), record)
    return 0


def cmd_usage(args: argparse.Namespace) -> int:
    from flows.cli.usage import cmd_usage as usage

    return usage(args)


def cmd_schema(args: argparse.Namespace) -> int:
    from flows.plan.registry import discover
    from flows.plan.schema import json_schema

    print(json.dumps(json_schema(discover(Path.cwd())), indent=2))
    return 0


def cmd_components(args: argparse.Namespace) -> int:
    from flows.plan.catalog import describe_components, markdown_list
    from flows.plan.registry import discover

    registry = discover(Path.cwd())
    print(markdown_list(registry) if args.markdown else describe_components(registry))
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    from flows.cli.completion import script

    print(script(args.shell, _parser()))
    return 0


_NOTHING_TO_FINALIZE = {
    cmd_validate,
    cmd_list,
    cmd_show,
    cmd_schema,
    cmd_components,
    cmd_cache,
    cmd_completion,
    cmd_usage,
}

if __name__ == "__main__":  # pragma: no cover
    entry()
