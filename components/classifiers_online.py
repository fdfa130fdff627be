"""The online features of one entity, in a tabular model's input order: what `classifier.onnx` feeds the model
when a request carries entity ids (`{"flight_id": ..., "origin": ..., "tailnum": ...}`) rather than a text.

Two mistakes are refused with one line each, before anything is predicted or recorded: a model whose features the
service does not serve (its `feature_names` name them), and an entity the online store does not know. The latter
is judged on the request's first join key (the routing key's entity, e.g. the flight): when every feature of the
views keyed by it is null, Feast has no row for it (an unknown id, or one not materialized yet). Other entities may
be missing (a plane with no specs): the model was trained with such NaNs.
"""

from __future__ import annotations

import math
from typing import Any

from components.base import InputError
from components.features.selection import check_columns, select
from components.features.store import FeastStore


class OnlineFeaturesError(InputError, LookupError):
    """The model cannot be fed from the online store: a feature the service does not serve, or an unknown entity
    (`dagwright serve` answers 422 with the message: it quotes only the request's ids and the model's names)."""


def served_by_view(store: FeastStore, where: str, service: str) -> dict[str, list[str]]:
    """View -> the feature names the service serves from it."""
    chosen = select(store, where, service, []).features
    return {p.name: [f.name for f in p.features] for p in chosen.feature_view_projections}


def check_served(store: FeastStore, where: str, service: str, names: list[str]) -> None:
    served = {n for features in served_by_view(store, where, service).values() for n in features}
    missing = [n for n in names if n not in served]
    if missing:
        raise OnlineFeaturesError(
            f"{where}: the model's features {', '.join(missing)} are not served by feature service '{service}'; "
            f"it serves {', '.join(sorted(served))}"
        )


def online_row(store: FeastStore, where: str, service: str, entities: dict[str, Any], names: list[str]) -> list[float]:
    """The features ``names`` of one entity row (NaN where missing), from the online store."""
    if not entities or any(isinstance(v, (list, dict)) for v in entities.values()):
        raise OnlineFeaturesError(f'{where}: entities maps each join key to one value, e.g. {{"flight_id": "..."}}')
    selection = select(store, where, service, [])
    check_columns(where, "entities", list(entities), selection, timestamp=False)
    response = store.store.get_online_features(features=selection.features, entity_rows=[entities]).to_dict()
    _known(store, where, service, entities, selection.join_keys, response)
    return [_number(response[n][0]) for n in names]


def _known(
    store: FeastStore,
    where: str,
    service: str,
    entities: dict[str, Any],
    join_keys: dict[str, list[str]],
    response: dict[str, list[Any]],
) -> None:
    first = next(iter(entities))
    views = served_by_view(store, where, service)
    keyed = [n for view in join_keys.get(first, []) for n in views.get(view, [])] or [
        n for features in views.values() for n in features
    ]
    if all(_number(response[n][0]) != _number(response[n][0]) for n in keyed):  # NaN != NaN
        raise OnlineFeaturesError(
            f"{where}: the online store has no features for {first} {entities[first]!r} "
            f"({', '.join(sorted(set(join_keys.get(first, [])) or views))} all null): an unknown {first}, "
            "or one not materialized yet"
        )


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)
