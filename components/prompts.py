"""Versioned prompt templates from the project's prompts/ folder: `NAME.vN.yaml`, referenced as `NAME@N`
(or `NAME` for the highest version). Templates use `{placeholders}`; a missing value is an error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.base import PermanentError

_FILE = re.compile(r"^(?P<id>[a-z0-9][a-z0-9_-]*)\.v(?P<version>\d+)\.ya?ml$")
_REF = re.compile(r"^(?P<id>[a-z0-9][a-z0-9_-]*)(@(?P<version>\d+))?$")


class PromptError(PermanentError, LookupError):
    """A prompt reference names no template, or a template is missing a value: configuration, never retried."""


@dataclass(frozen=True)
class Prompt:
    id: str
    version: int
    system: str
    user: str
    description: str = ""

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def render(self, **values: Any) -> list[dict[str, str]]:
        try:
            return [
                {"role": "system", "content": self.system.format_map(values).strip()},
                {"role": "user", "content": self.user.format_map(values).strip()},
            ]
        except KeyError as exc:
            raise PromptError(f"prompt {self.ref} needs a value for {exc}") from None


def template_problem(ref: str, folder: str | Path, variables: set[str]) -> str | None:
    """Why the prompt ``ref`` cannot be rendered with ``variables``, or None when it can: missing, not a
    template, or asking for a value the stage does not give."""
    import string

    try:
        prompt = load_prompt(ref, folder)
    except PromptError as exc:
        return str(exc)
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
        return f"prompt {ref} cannot be read: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    try:
        asked = {
            name for text in (prompt.system, prompt.user) for _, name, _, _ in string.Formatter().parse(text) if name
        }
    except ValueError as exc:  # an unmatched brace
        return f"prompt {prompt.ref} is not a valid template: {exc}"
    unknown = sorted(asked - variables)
    if unknown:
        return f"prompt {prompt.ref} asks for {', '.join(unknown)}; it is given {', '.join(sorted(variables))}"
    return None


def load_prompt(ref: str, folder: str | Path = "prompts") -> Prompt:
    prompt_id, wanted, file = prompt_file(ref, folder)
    data = yaml.safe_load(file.read_text(encoding="utf-8"))
    return Prompt(prompt_id, wanted, data["system"], data["user"], data.get("description", ""))


def prompt_file(ref: str, folder: str | Path = "prompts") -> tuple[str, int, Path]:
    """The id, version and file of a prompt reference, without reading the file."""
    match = _REF.match(ref)
    if not match:
        raise PromptError(f"bad prompt reference '{ref}'; expected NAME or NAME@VERSION, e.g. rag-answer@1")
    versions = _versions(Path(folder), match.group("id"))
    if not versions:
        raise PromptError(f"no prompt '{match.group('id')}' in {folder}/ (files are named NAME.vN.yaml)")
    wanted = int(match.group("version")) if match.group("version") else max(versions)
    if wanted not in versions:
        raise PromptError(f"prompt '{match.group('id')}' has no version {wanted}; versions: {sorted(versions)}")
    return match.group("id"), wanted, versions[wanted]


def _versions(folder: Path, prompt_id: str) -> dict[int, Path]:
    found = {}
    for file in folder.glob(f"{prompt_id}.v*.y*ml"):
        m = _FILE.match(file.name)
        if m and m.group("id") == prompt_id:
            found[int(m.group("version"))] = file
    return found
