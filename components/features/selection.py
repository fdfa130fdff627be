"""Which features a request names (a feature service or `view:feature` refs), checked against the registry before
Feast sees them, so a typo or a missing entity column is one line naming what exists, not a Feast traceback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.features.store import FeastStore, FeatureStoreError

TIMESTAMP = "event_timestamp"


@dataclass(frozen=True)
class Selection:
    """What Feast is asked for: a FeatureService object or a list of refs, and the join keys it needs."""

    features: Any  # feast.FeatureService | list[str]
    join_keys: dict[str, list[str]]  # join key -> the views that need it
    label: str  # for reports: "service flight_delay_v1" or "3 features"


def _did_you_mean(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _views(store: FeastStore) -> dict[str, Any]:
    fs = store.store
    found: dict[str, Any] = {v.name: v for v in fs.list_feature_views()}
    found |= {v.name: v for v in fs.list_on_demand_feature_views()}
    return found


def _join_keys(view: Any, views: dict[str, Any]) -> list[str]:
    """The join keys of a view; an on-demand view needs those of the views it reads."""
    sources = getattr(view, "source_feature_view_projections", None)
    if sources is not None:
        return sorted({k for p in sources.values() for k in _join_keys(views[p.name], views)})
    return [c.name for c in view.entity_columns]


def select(store: FeastStore, where: str, service: str | None, refs: list[str]) -> Selection:
    return store.remembered(("selection", service, tuple(refs)), lambda: _select(store, where, service, refs))


def _select(store: FeastStore, where: str, service: str | None, refs: list[str]) -> Selection:
    views = _views(store)
    if refs:
        chosen = _check_refs(where, refs, views)
        features: Any = list(refs)
        label = f"{len(refs)} features"
    else:
        assert service is not None  # the params' validator holds one of the two
        features = _service(store, where, service)
        chosen = {p.name: [f.name for f in p.features] for p in features.feature_view_projections}
        label = f"service {service}"
    needed: dict[str, list[str]] = {}
    for name in chosen:
        for key in _join_keys(views[name], views):
            needed.setdefault(key, []).append(name)
    return Selection(features, needed, label)


def _service(store: FeastStore, where: str, name: str) -> Any:
    services = {s.name: s for s in store.store.list_feature_services()}
    if name not in services:
        known = sorted(services) or ["none: run features-apply"]
        raise FeatureStoreError(
            f"{where}: unknown feature service '{name}'{_did_you_mean(name, list(services))}; "
            f"{store.label} has {', '.join(known)}"
        )
    return services[name]


def _check_refs(where: str, refs: list[str], views: dict[str, Any]) -> dict[str, list[str]]:
    chosen: dict[str, list[str]] = {}
    for ref in refs:
        view_name, _, feature = ref.partition(":")
        if not feature:
            raise FeatureStoreError(
                f"{where}: feature '{ref}' is not of the form view:feature, e.g. origin_weather:temp"
            )
        if view_name not in views:
            raise FeatureStoreError(
                f"{where}: unknown feature view '{view_name}' in '{ref}'{_did_you_mean(view_name, list(views))}; "
                f"feature views are {', '.join(sorted(views)) or 'none: run features-apply'}"
            )
        names = [f.name for f in views[view_name].features]
        if feature not in names:
            raise FeatureStoreError(
                f"{where}: feature view '{view_name}' has no feature '{feature}'{_did_you_mean(feature, names)}; "
                f"its features are {', '.join(names)}"
            )
        chosen.setdefault(view_name, []).append(feature)
    return chosen


def check_columns(where: str, source: str, columns: list[str], selection: Selection, *, timestamp: bool) -> None:
    """Every join key the selection needs (and the event timestamp, for training sets) is a column."""
    wanted = {**selection.join_keys, **({TIMESTAMP: ["point-in-time joins"]} if timestamp else {})}
    for column, users in wanted.items():
        if column not in columns:
            raise FeatureStoreError(
                f"{where}: {source} has no column '{column}', needed by {', '.join(sorted(set(users)))}; "
                f"its columns are {', '.join(columns) or 'none'}"
            )
