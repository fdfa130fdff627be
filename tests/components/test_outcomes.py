"""`predictions.outcome` on a real prediction log (SQLite): an outcome joins the key's latest prediction and says
whether it was right; an outcome for a key never predicted is refused and leaves the log as it was."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from components.outcomes import RecordOutcome, UnknownKeyError
from components.registry_predictions import PredictionLog
from tests.helpers.resources import Given, open_resource


@pytest.fixture
def log() -> Iterator[PredictionLog]:
    opened = open_resource(PredictionLog)
    yield opened
    opened.close()


def record(log: PredictionLog, model: str, key: str, label: str):
    return RecordOutcome(RecordOutcome.Params(), Given(predictions=log)).run(model, key, label).outcome


def rows(log: PredictionLog) -> int:
    return int(log.db.execute("SELECT COUNT(*) FROM dagwright_outcomes").fetchone()[0])


def test_an_outcome_joins_the_latest_prediction_of_its_key(log: PredictionLog) -> None:
    log.record("spam", "1", "champion", "user-1", "ham", 0.7)
    log.record("spam", "2", "challenger", "user-1", "spam", 0.9)  # the same key, later: this one counts
    log.record("spam", "1", "champion", "user-2", "ham", 0.6)
    found = record(log, "spam", "user-1", "spam")
    assert (found.predicted, found.model_version, found.alias, found.right) == ("spam", "2", "challenger", True)
    assert "v2 (challenger) predicted 'spam': right" in found.present()
    assert record(log, "spam", "user-2", "spam").right is False
    joined = {(o.version, o.prediction, o.label) for o in log.outcomes("spam")}
    assert joined == {("1", "ham", "spam"), ("2", "spam", "spam")}


def test_an_outcome_for_a_key_never_predicted_is_refused_and_records_nothing(log: PredictionLog) -> None:
    log.record("spam", "1", "champion", "user-1", "ham", 0.7)
    with pytest.raises(UnknownKeyError, match=r"never predicted for key 'user-9' \(it has predictions for 1 other"):
        record(log, "spam", "user-9", "ham")
    with pytest.raises(UnknownKeyError, match="model 'sapm' never predicted .*it has no recorded predictions"):
        record(log, "sapm", "user-1", "ham")  # a typo in the model's name
    assert rows(log) == 0
    record(log, "spam", "user-1", "ham")
    assert rows(log) == 1
