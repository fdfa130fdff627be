"""A `drift.check` sample read from a Feast feature view over a time window: ``feast:VIEW@START..END``.

START is inclusive, END exclusive (UTC; a date or an ISO time). Either side may be relative, since the check is
scheduled weekly:
- END: ``now`` (the check's ``now`` param, else the current time), or a duration back from it (``7d``);
- START: a duration back from END (``7d..now`` is the last 7 days, ``28d..7d`` the four weeks before those,
  ``31d..2014-01-01`` December 2013).
Durations are a number and a unit: ``h`` (hours), ``d`` (days) or ``w`` (weeks).

The rows come from the view's batch source through the offline store's ``pull_all_from_table_or_query`` (what
Feast's own materialization reads), so any offline store works, not only files; every row in the window, not
the latest per entity, because drift is about the distribution of what happened. Only the view's features are
kept, in its order, plus the join keys or the timestamp when ``columns`` asks for them.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from components.drift_io import DriftInputError

if TYPE_CHECKING:
    import pandas as pd

    from components.features.store import FeastStore

PREFIX = "feast:"
_SOURCE = re.compile(r"^feast:(?P<view>[^@\s]+)@(?P<start>\S+?)\.\.(?P<end>\S+)$")
_DURATION = re.compile(r"^(\d+)([hdw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
FORM = "feast:VIEW@START..END, e.g. feast:origin_weather@2013-12-01..2014-01-01 or feast:origin_weather@7d..now"


@dataclass(frozen=True)
class ViewWindow:
    view: str
    start: datetime
    end: datetime

    def describe(self) -> str:
        return f"feature view '{self.view}' in [{_iso(self.start)}, {_iso(self.end)})"


def is_feast(source: str) -> bool:
    return source.startswith(PREFIX)


def parse_source(source: str, role: str, now: datetime) -> ViewWindow:
    """``source`` as a view and an absolute window; ``role`` (reference, current) names it in errors."""
    match = _SOURCE.match(source.strip())
    if match is None:
        raise DriftInputError(f"{role} '{source}': expected {FORM}")
    end = _moment(match["end"], now, role, source, "END")
    start = _moment(match["start"], end, role, source, "START")
    if start >= end:
        raise DriftInputError(f"{role} '{source}': the window is empty, START {_iso(start)} >= END {_iso(end)}")
    return ViewWindow(match["view"], start, end)


def _moment(text: str, anchor: datetime, role: str, source: str, side: str) -> datetime:
    """An ISO date/time (naive is UTC), ``now`` (END only), or a duration back from ``anchor``."""
    if text == "now" and side == "END":
        return anchor
    duration = _DURATION.match(text)
    if duration:
        return anchor - int(duration[1]) * _UNITS[duration[2]]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        relative = "now, " if side == "END" else ""
        raise DriftInputError(
            f"{role} '{source}': {side} '{text}' is not an ISO date or time, {relative}or a duration "
            f"(a number and h, d or w, e.g. 7d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_now(text: str) -> datetime:
    """The check's ``now`` param: an ISO time (naive is UTC), blank for the current time."""
    if not text.strip():
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DriftInputError(f"now '{text}': expected an ISO date or time, e.g. 2014-01-01, or blank") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_view(store: FeastStore, source: str, role: str, now: datetime, wanted: list[str]) -> pd.DataFrame:
    """The rows of ``source``'s view in its window: its features (and the join keys or timestamp that
    ``wanted`` names)."""
    window = parse_source(source, role, now)
    view = _view(store, window.view, role, source)
    keys = [c.name for c in view.entity_columns]
    features = [f.name for f in view.features]
    stamp = view.batch_source.timestamp_field
    frame = _pull(store, view, keys, features, window)
    if frame.empty:
        raise DriftInputError(f"{role} '{source}': no rows of {window.describe()} (a window without data?)")
    asked = [c for c in wanted if c in keys or c == stamp]
    return frame[features + asked].reset_index(drop=True)


def _view(store: FeastStore, name: str, role: str, source: str) -> Any:
    views = {v.name: v for v in store.store.list_feature_views()}
    if name in views:
        return views[name]
    close = difflib.get_close_matches(name, views, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    known = ", ".join(sorted(views)) or "none (run features-apply)"
    raise DriftInputError(f"{role} '{source}': unknown feature view '{name}'; {hint}feature views are {known}")


def _pull(store: FeastStore, view: Any, keys: list[str], features: list[str], window: ViewWindow) -> pd.DataFrame:
    fs = store.store
    source = view.batch_source
    job = fs._get_provider().offline_store.pull_all_from_table_or_query(
        config=fs.config,
        data_source=source,
        join_key_columns=keys,
        feature_name_columns=features,
        timestamp_field=source.timestamp_field,
        created_timestamp_column=source.created_timestamp_column or None,
        start_date=window.start,
        end_date=window.end,
    )
    import pandas as pd

    frame = job.to_df()
    # Offline stores filter with BETWEEN, both ends included; the window's END is excluded, so that back-to-back
    # windows (two halves of a month, this week and the last) never share a row. The DuckDB store returns the
    # times as text, the file store as timestamps: compare them as UTC times either way.
    frame[source.timestamp_field] = pd.to_datetime(frame[source.timestamp_field], utc=True)
    return frame[frame[source.timestamp_field] < window.end]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
