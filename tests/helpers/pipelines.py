"""pipelines.yaml texts that several test modules run, so each scenario is written once."""

from __future__ import annotations

from pathlib import Path

FN = "tests.helpers.stagefns"

# nums -> broken (always fails) -> after_broken -> (after) later; nums -> healthy.
FAILING_BRANCHES = f"""
pipelines:
  p:
    stages:
      nums: {{uses: python.call, with: {{function: "{FN}:numbers"}}}}
      broken:
        uses: python.call
        with: {{function: "{FN}:fail"}}
        inputs: {{values: nums.output}}
      after_broken:
        uses: python.call
        with: {{function: "{FN}:total"}}
        inputs: {{values: broken.output}}
      later:
        uses: python.call
        with: {{function: "{FN}:noop"}}
        after: [after_broken]
      healthy:
        uses: python.call
        with: {{function: "{FN}:total"}}
        inputs: {{values: nums.output}}
"""


def flaky(log: Path, *, retries: int, failures: int) -> str:
    """nums -> flaky, where flaky fails its first ``failures`` calls (counted in ``log``)."""
    return f"""
pipelines:
  p:
    stages:
      nums: {{uses: python.call, with: {{function: "{FN}:numbers"}}}}
      flaky:
        uses: python.call
        retries: {retries}
        retry_delay: 10ms
        cache: false
        with: {{function: "{FN}:flaky", kwargs: {{log: "{log}", failures: {failures}}}}}
        inputs: {{values: nums.output}}
"""
