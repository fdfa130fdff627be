"""The usage report's artifact page in a real browser: the Prefect UI draws its charts (markdown images with
`data:` SVG; it strips inline <svg>). The screenshot is docs/ui/09-usage-report-artifact.png's source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.browser.conftest import artifact_images, shot
from tests.integration.test_usage_report import KEY, run_usage_report

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_the_artifact_page_draws_the_charts(prefect_api: str, plan_of: Any, isolated_home: Path, page: Any) -> None:
    _, artifacts = run_usage_report(plan_of, isolated_home)
    report = next(a for a in artifacts if a.key == KEY)
    drawn = artifact_images(page, prefect_api, report, "Calls per hour", 2300)
    shot(page, "09-usage-report-artifact")
    assert drawn == [["Calls per hour", 720], ["Cost per hour", 720]]  # loaded and decoded, at their own width
    assert page.get_by_role("cell", name="gpt-4o-mini").is_visible()
