"""The `feast:VIEW@START..END` source form of `drift.check`, without Feast: absolute and relative windows, and
what is wrong with a bad source, in one line naming it (reading real Feast: tests/integration/test_drift_feast.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from components.drift import DriftCheck
from components.drift_feast import is_feast, parse_now, parse_source
from components.drift_io import DriftInputError

NOW = datetime(2014, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("source", "start", "end"),
    [
        ("feast:origin_weather@2013-01-01..2013-09-01", datetime(2013, 1, 1), datetime(2013, 9, 1)),
        (
            "feast:origin_weather@2013-12-01T06:00:00Z..2013-12-02T06:00",
            datetime(2013, 12, 1, 6),
            datetime(2013, 12, 2, 6),
        ),
        ("feast:origin_weather@7d..now", datetime(2013, 12, 25), datetime(2014, 1, 1)),
        ("feast:origin_weather@28d..7d", datetime(2013, 11, 27), datetime(2013, 12, 25)),
        ("feast:origin_weather@2w..2013-12-15", datetime(2013, 12, 1), datetime(2013, 12, 15)),
        ("feast:origin_weather@12h..now", datetime(2013, 12, 31, 12), datetime(2014, 1, 1)),
    ],
)
def test_windows_absolute_and_relative(source: str, start: datetime, end: datetime) -> None:
    window = parse_source(source, "current", NOW)
    assert (window.view, window.start, window.end) == (
        "origin_weather",
        start.replace(tzinfo=UTC),
        end.replace(tzinfo=UTC),
    )
    assert is_feast(source) and not is_feast("data/feast.parquet")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("feast:origin_weather", "expected feast:VIEW@START..END, e.g. feast:origin_weather@2013-12-01..2014-01-01 "
         "or feast:origin_weather@7d..now"),
        ("feast:origin_weather@2013-01-01-2013-02-01", "expected feast:VIEW@START..END"),
        ("feast:origin_weather@now..2013-02-01", "START 'now' is not an ISO date or time, or a duration (a number "
         "and h, d or w, e.g. 7d)"),
        ("feast:origin_weather@7d..yesterday", "END 'yesterday' is not an ISO date or time, now, or a duration"),
        ("feast:origin_weather@7y..now", "START '7y' is not an ISO date or time"),
        ("feast:origin_weather@2013-02-01..2013-01-01", "the window is empty, START 2013-02-01T00:00:00Z >= END "
         "2013-01-01T00:00:00Z"),
    ],
)  # fmt: skip
def test_a_bad_source_is_one_line_naming_it(source: str, message: str) -> None:
    with pytest.raises(DriftInputError) as error:
        parse_source(source, "reference", NOW)
    assert str(error.value).startswith(f"reference '{source}': {message}")
    assert "\n" not in str(error.value)


def test_a_feast_sample_without_a_store_is_an_error_before_anything_is_read(tmp_path) -> None:
    params = DriftCheck.Params(reference="feast:origin_weather@2013-01-01..2013-09-01", current=str(tmp_path / "c.csv"))
    with pytest.raises(DriftInputError) as error:
        DriftCheck(params).run()
    assert str(error.value) == (
        "reference 'feast:origin_weather@2013-01-01..2013-09-01': a Feast sample needs the 'store' param "
        "(a feast.store resource)"
    )


def test_now_is_an_iso_time_or_the_clock() -> None:
    assert parse_now("2014-01-01") == NOW
    assert abs((parse_now("") - datetime.now(UTC)).total_seconds()) < 5
    with pytest.raises(DriftInputError, match=r"^now 'soon': expected an ISO date or time, e.g. 2014-01-01, or blank$"):
        parse_now("soon")
