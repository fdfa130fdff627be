"""Issue 8: an entry planted in the results folder is data at most; reading it never runs code, and a planted or
damaged entry is a miss."""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.execute.cache import MAGIC
from flows.execute.session import close_session
from tests.faults.project import make_project, run


class Payload:
    """Pickled, it runs a shell command when loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    yield make_project(tmp_path / "project")
    close_session()


def only_entry(home: Path) -> Path:
    (entry,) = [p for p in (home / "results").rglob("*") if p.is_file()]
    return entry


def test_a_planted_pickle_runs_nothing_and_is_a_miss(project: Path, isolated_home: Path, tmp_path: Path) -> None:
    assert run(project, "shout").stages["shout"].status == "completed"
    marker = tmp_path / "pwned"
    planted = pickle.dumps({"output": Payload(marker)})
    only_entry(isolated_home).write_bytes(planted)

    result = run(project, "shout")
    assert result.stages["shout"].status == "completed" and result.output("shout") == "HELLO"
    assert not marker.exists()
    assert run(project, "shout").stages["shout"].status == "cached"  # the miss rewrote a good entry
    pickle.loads(planted)  # the payload was live: loading it the old way would have run it
    assert marker.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"$": "o", "c": "subprocess:Popen", "v": {"args": "touch pwned"}},  # not a dataclass
        {"$": "o", "c": "not_imported.module:Thing", "v": {}},  # never imported to find a class
        {"$": "d", "k": ["output"], "v": [{"$": "o", "c": "components.documents:Document", "v": {"id": "x"}}]},
        {"$": "a", "v": "bm90IGFuIGFycmF5"},  # not .npy bytes
        {"$": "exec", "v": "print(1)"},
    ],
)
def test_a_planted_data_entry_is_a_miss(project: Path, isolated_home: Path, body: object) -> None:
    run(project, "shout")
    entry = only_entry(isolated_home)
    entry.write_bytes(MAGIC + b'{"pipeline": "shout"}\n' + json.dumps(body).encode())
    assert run(project, "shout").stages["shout"].status == "completed"
    assert not Path("pwned").exists()


def test_a_truncated_entry_is_a_miss(project: Path, isolated_home: Path) -> None:
    run(project, "shout")
    entry = only_entry(isolated_home)
    entry.write_bytes(entry.read_bytes()[:-3])
    assert run(project, "shout").stages["shout"].status == "completed"
