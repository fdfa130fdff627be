"""What the flight classifier's pieces refuse or shape before any service is touched: `classifier.onnx`'s request
forms, and `labels.window`'s cut of a labels file (thinned evenly in time, unlabelled rows dropped)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from components.classifiers_data import TrainingDataError
from components.classifiers_onnx import ClassifyInputError, OnnxClassifier
from components.classifiers_tabular_data import LabelWindow


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "give a text or entities"),
        ({"text": "x", "entities": {"flight_id": "f"}, "key": "k"}, "one of the two"),
        ({"text": "x"}, "give a routing key, or entities to take it from"),
        ({"entities": {}}, "give a routing key, or entities to take it from"),
    ],
)
def test_a_request_carries_a_text_or_entities_and_a_key(inputs: dict, message: str) -> None:
    component = OnnxClassifier(OnnxClassifier.Params())
    component.warm_up()
    with pytest.raises(ClassifyInputError, match=message):
        component.run(**inputs)


def labels_file(folder: Path) -> str:
    times = pd.date_range("2013-01-01", periods=100, freq="h", tz="UTC")
    delayed = pd.array([None if i % 10 == 0 else i % 3 == 0 for i in range(100)], dtype="Int8")
    frame = pd.DataFrame({"flight_id": [f"f{i}" for i in range(100)], "event_timestamp": times, "delayed": delayed})
    path = folder / "labels.parquet"
    frame.sample(frac=1, random_state=0).to_parquet(path, index=False)  # out of time order on purpose
    return str(path)


def test_a_window_keeps_labelled_rows_in_time_order_thinned_evenly(tmp_path: Path) -> None:
    out = tmp_path / "entities.parquet"
    p = LabelWindow.Params(
        source=labels_file(tmp_path), start="2013-01-01T10:00", end="2013-01-03", limit=10, out=str(out)
    )
    assert LabelWindow(p).run().entities == str(out)
    got = pd.read_parquet(out)
    assert len(got) == 10 and got["delayed"].notna().all()
    assert got["event_timestamp"].is_monotonic_increasing
    assert got["event_timestamp"].iloc[0] == pd.Timestamp("2013-01-01T11:00", tz="UTC")  # 10:00 is unlabelled
    assert got["event_timestamp"].iloc[-1] == pd.Timestamp("2013-01-02T23:00", tz="UTC")


def test_an_empty_window_or_a_missing_column_is_one_line(tmp_path: Path) -> None:
    source, out = labels_file(tmp_path), str(tmp_path / "e.parquet")
    with pytest.raises(TrainingDataError, match=r"no labelled rows from 2014-01-01 to 2014-02-01; the file spans 2013"):
        LabelWindow(LabelWindow.Params(source=source, start="2014-01-01", end="2014-02-01", out=out)).run()
    with pytest.raises(TrainingDataError, match=r"no column 'late'; columns are: flight_id, event_timestamp, delayed"):
        LabelWindow(LabelWindow.Params(source=source, label_column="late", start="2013", end="2014", out=out)).run()
    with pytest.raises(TrainingDataError, match=r"labels 'nope.parquet': no such file"):
        LabelWindow(LabelWindow.Params(source="nope.parquet", start="2013", end="2014", out=out)).run()
