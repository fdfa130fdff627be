"""What `dagwright COMMAND --help` says beyond the options: what the command is for, and examples to copy.

Kept apart from the parser so the text reads as one page; `_Commands.add_parser` attaches it by command name,
and a test checks that every command has both.
"""

from __future__ import annotations

import argparse

# command -> (description, examples). Examples use the shipped pipelines.yaml.
COMMANDS: dict[str, tuple[str, list[str]]] = {
    "validate": (
        "Load and plan every pipeline of a pipelines file, and report every problem at once with file:line:col, "
        "the YAML path, what was expected and what exists. Exit 0 with a count, 2 with problems. Imports no "
        "heavy library: fast enough for an editor's save hook or pre-commit.",
        ["dagwright validate", "dagwright validate other/pipelines.yaml", "dagwright --profile prod validate"],
    ),
    "list": (
        "The pipelines of the file, with their stage counts, schedules and descriptions.",
        ["dagwright list", "dagwright list --names    # one name a line, for scripts and completion"],
    ),
    "show": (
        "A pipeline's DAG in run order as text (stage, component, inputs, checks), then as a Mermaid flowchart.",
        ["dagwright show rag-ingest", "dagwright show rag-query --mermaid > rag-query.mmd"],
    ),
    "run": (
        "Run a pipeline: one line per stage (status, time, rows in -> out), progress of long stages (a bar on a "
        "terminal, a line per tenth elsewhere), then the summary and the final outputs. Without --local it runs "
        "as a Prefect flow on $PREFECT_API_URL, else on a `dagwright up` server, else on Prefect's temporary one. "
        "Exit 1 if a stage failed, 2 for bad input.",
        [
            "dagwright run rag-ingest",
            'dagwright run rag-query -p question="How are results cached?" -p top_k=3',
            "dagwright run docs-report --local --no-cache",
            "dagwright run rag-ingest -p source=missing/ -v    # a failure's traceback",
        ],
    ),
    "check": (
        "A dry run in process: every stage and every data-quality check, but stages that write (stores, sinks) "
        "only check their inputs, so nothing is written. Exit 1 if a check stopped the run.",
        ["dagwright check rag-ingest", "dagwright check docs-report -v"],
    ),
    "up": (
        "A local Prefect server and its UI on SQLite under .dagwright/prefect; prints the URL. `run` and "
        "`deploy` find it on 127.0.0.1:4200. Ctrl-C stops it cleanly.",
        ["dagwright up", "dagwright up --port 4320"],
    ),
    "serve": (
        "Serve the pipelines marked `serve:` over HTTP on the in-process executor (no Prefect): "
        "POST /v1/pipelines/NAME/run (JSON) and /stream (Server-Sent Events), the OpenAI-compatible "
        "/v1/chat/completions for `serve: {chat: true}` pipelines, /healthz, /readyz, /metrics and /docs. API keys "
        "come from DAGWRIGHT_API_KEYS ('org:key,...') or DAGWRIGHT_API_KEYS_FILE; without any, every caller is "
        "let in. Rate limits are counted in Redis when DAGWRIGHT_REDIS_URL is set. Ctrl-C stops it.",
        [
            "dagwright serve",
            "DAGWRIGHT_API_KEYS=acme:s3cret dagwright serve --host 0.0.0.0 --port 8080",
            "dagwright --profile prod serve",
        ],
    ),
    "deploy": (
        "Make the server's deployments match the file, then serve them from this process until Ctrl-C: one "
        "deployment per pipeline (pipeline/pipeline) with its schedule, params and tags, plus the tag "
        "`dagwright`. Running it again changes nothing. A dagwright deployment whose pipeline is gone from the "
        "file is removed. A schedule or deployment paused in the UI stays paused; on Ctrl-C the served "
        "deployments are paused and the next deploy resumes them.",
        ["dagwright deploy", "dagwright deploy --pipeline rag-query", "dagwright --profile prod deploy"],
    ),
    "resources": (
        "The resources of the file (name, type, kind, the stages that use them) under the chosen profile, or the "
        "registered resource types.",
        ["dagwright resources", "dagwright --profile prod resources", "dagwright resources --types"],
    ),
    "cache": (
        "The result cache under .dagwright/results: entries and bytes per pipeline against its cap, or remove "
        "every result, or one pipeline's.",
        ["dagwright cache info", "dagwright cache clear rag-ingest", "dagwright cache clear"],
    ),
    "usage": (
        "What the LLM gateway's calls cost, from its usage store (.dagwright/usage.sqlite, or PostgreSQL when the "
        "profile's gateway sets usage_dsn): calls, tokens and cost by prompt, model and pipeline (--by: also by API "
        "key id, endpoint or organisation), the caches' hit rate, p50/p95 latency of model calls, error and "
        "fallback rates.",
        ["dagwright usage", "dagwright usage --since 7d --by key", "dagwright --profile prod usage --since all --json"],
    ),
    "schema": (
        "The JSON Schema of pipelines.yaml, including every component's params, for editor completion.",
        ["dagwright schema > docs/pipelines.schema.json"],
    ),
    "components": (
        "Every registered component (built-in, entry points, the project's components/) with its params, "
        "defaults and ports.",
        ["dagwright components", "dagwright components --markdown"],
    ),
    "completion": (
        "Print the shell completion script: commands, options, and the file's pipeline names.",
        [
            "dagwright completion bash > ~/.local/share/bash-completion/completions/dagwright",
            'eval "$(dagwright completion zsh)"    # in ~/.zshrc',
            "dagwright completion fish > ~/.config/fish/completions/dagwright.fish",
            'eval "$(dagwright completion bash)"    # this shell only, or in ~/.bashrc',
        ],
    ),
}

MAIN_EXAMPLES = [
    "dagwright validate",
    "dagwright run rag-ingest && dagwright run rag-query -p question='What is dagwright?'",
    "dagwright up    # then, in another terminal: dagwright deploy",
    "dagwright COMMAND --help    # what a command does, with examples",
]


def examples_text(lines: list[str]) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def help_for(command: str) -> dict[str, object]:
    """The add_parser keywords that give ``command`` its description and examples."""
    description, examples = COMMANDS[command]
    return {"description": description, "epilog": examples_text(examples), "formatter_class": Formatter}


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Examples keep their lines; the description is wrapped to the terminal, as argparse does by default."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)
