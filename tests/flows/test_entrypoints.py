"""The cheap entry-point scan must never say "no" where importlib.metadata would find a group."""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from flows.entrypoints import may_declare
from tests.helpers.files import write_tree


def test_agrees_with_importlib_metadata_on_this_environment() -> None:
    for group in ("console_scripts", "pydantic", "dagwright.components", "pytest11"):
        assert may_declare(group) == bool(entry_points(group=group))


def test_sees_a_distribution_added_to_sys_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = write_tree(
        tmp_path / "site",
        {"plug-1.0.dist-info/entry_points.txt": "[dagwright.test_group]\nx = plug\n"},
    )
    assert not may_declare("dagwright.test_group")
    monkeypatch.syspath_prepend(str(site))
    assert may_declare("dagwright.test_group")


def test_a_zip_on_sys_path_means_maybe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "plugins.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip file
    monkeypatch.syspath_prepend(str(archive))
    assert may_declare("dagwright.test_group")


def test_pydantic_is_told_only_what_a_scan_would_find(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.entrypoints import skip_empty_pydantic_plugin_scan

    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "my_plugin")
    skip_empty_pydantic_plugin_scan()
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "my_plugin"  # the user's choice stands
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS")
    skip_empty_pydantic_plugin_scan()
    expected = None if entry_points(group="pydantic") else "__all__"
    assert os.environ.get("PYDANTIC_DISABLE_PLUGINS") == expected
