"""The feature stages' pure parts, without Feast: Redis URLs as Feast's connection strings, settings that never
quote a URL, the rows_kept check and how its failure names the dropped rows, time parsing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from components.features.reports import TrainingSetReport
from components.features.store import FeastSettings, FeatureStoreError, redis_connection_string
from components.features.windows import parse_time
from flows.plan.checks import CheckError, resolve


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/7", "127.0.0.1:6379,db=7"),
        ("redis://localhost", "localhost:6379"),
        ("redis://default:s%40cret@cache:6380/2", "cache:6380,db=2,username=default,password=s@cret"),
        ("rediss://:pw@cache/0", "cache:6379,db=0,password=pw,ssl=true"),
    ],
)
def test_a_redis_url_is_feasts_connection_string(url: str, expected: str) -> None:
    assert redis_connection_string(url) == expected


def test_a_url_that_is_not_redis_is_refused() -> None:
    # The engine shows the message without the value (tests/integration/test_features.py runs the CLI).
    for url in ("postgresql://user:Secret-123@db/x", "unix:///run/redis.sock"):  # Feast's store needs TCP
        with pytest.raises(ValidationError, match="expected a Redis URL starting with redis:// or rediss://"):
            FeastSettings(redis_url=url)


def test_rows_kept_applies_to_training_sets_only() -> None:
    check = resolve("outputs", "report", "training_set", "rows_kept")
    assert check.expectations == (
        ("ExpectColumnValuesToBeBetween", {"column": "rows_dropped", "min_value": 0, "max_value": 0}),
    )
    with pytest.raises(CheckError, match="check 'rows_kept' applies to training_set ports; port 'output' is table"):
        resolve("outputs", "output", "table", "rows_kept")


def test_a_training_set_report_names_the_rows_feast_dropped() -> None:
    report = TrainingSetReport("e.parquet", "service s", 4, 3, ["a"], ["origin=EWR at 2013-01-01T09:00:00+00:00"])
    assert report.check_row() == {"rows_in": 4, "rows_out": 3, "rows_dropped": 1}
    assert report.check_where() == "e.parquet: 4 entity rows in, 3 out: origin=EWR at 2013-01-01T09:00:00+00:00"


def test_times_are_utc_and_a_bad_one_is_named() -> None:
    assert parse_time("features.materialize", "end", "2013-01-08").isoformat() == "2013-01-08T00:00:00+00:00"
    assert parse_time("features.materialize", "end", " ") is None
    with pytest.raises(FeatureStoreError, match=r"^features.materialize: start 'soon' is not an ISO date or time"):
        parse_time("features.materialize", "start", "soon")
