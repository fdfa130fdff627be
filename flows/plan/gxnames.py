"""The names and fields of Great Expectations' expectations, kept in gx_expectations.json so that validating a
pipelines file never imports GX (~5-7 s). `python -m flows.plan.gxnames` regenerates the file; a test checks it
against the installed GX."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

CATALOG_FILE = Path(__file__).with_name("gx_expectations.json")
# Fields every expectation has that are GX's bookkeeping, not settings a pipeline gives.
_BOOKKEEPING = {
    "id",
    "meta",
    "notes",
    "result_format",
    "description",
    "catch_exceptions",
    "rendered_content",
    "severity",
    "windows",
    "batch_id",
}


@functools.cache
def gx_expectations() -> dict[str, dict[str, Any]]:
    return json.loads(CATALOG_FILE.read_text())


def generate() -> dict[str, dict[str, Any]]:
    import great_expectations.expectations as gxe

    out: dict[str, dict[str, Any]] = {}
    for name in sorted(n for n in dir(gxe) if n.startswith("Expect")):
        fields = getattr(gxe, name).__fields__  # GX models are pydantic v1-style
        settings = {k: bool(f.required) for k, f in fields.items() if k not in _BOOKKEEPING}
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        out[snake] = {
            "class": name,
            "required": sorted(k for k, required in settings.items() if required),
            "optional": sorted(k for k, required in settings.items() if not required),
        }
    return out


if __name__ == "__main__":
    CATALOG_FILE.write_text(json.dumps(generate(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {CATALOG_FILE}")
