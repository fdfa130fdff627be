"""`predictions.log`: every prediction `classifier.onnx` made (model, version, alias, routing key, time, label,
confidence), and the outcomes that arrive later, joined on the key. SQLite under the state directory by default
(`.dagwright/predictions.sqlite`), PostgreSQL with `dsn` (any server; no extension), so every serving process and
the promotion pipeline read one log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from components.base import ComponentParams
from components.resources import Resource

SCHEMA = """
CREATE TABLE IF NOT EXISTS dagwright_predictions (
    at DOUBLE PRECISION NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL, alias TEXT NOT NULL,
    key TEXT NOT NULL, prediction TEXT NOT NULL, confidence DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS dagwright_predictions_key ON dagwright_predictions (model, key);
CREATE TABLE IF NOT EXISTS dagwright_outcomes (
    at DOUBLE PRECISION NOT NULL, model TEXT NOT NULL, key TEXT NOT NULL, label TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS dagwright_outcomes_key ON dagwright_outcomes (model, key);
"""


# A prediction is one small insert on the request path: with WAL, `synchronous=NORMAL` syncs at checkpoints rather
# than at every commit, which took classifier.onnx from 3.4 to 0.16 ms at p50 (bench/models.py). A crash of the
# process loses nothing; a power cut may lose the last predictions, as it would lose the requests in flight.
SQLITE_SCHEMA = "PRAGMA synchronous=NORMAL;" + SCHEMA


@dataclass(frozen=True)
class Outcome:
    """A prediction joined with the label that arrived for its key."""

    version: str
    prediction: str
    label: str


@dataclass(frozen=True)
class Predicted:
    """The latest prediction recorded for a key."""

    version: str
    alias: str
    prediction: str


class PredictionLogSettings(ComponentParams):
    dsn: str | None = Field(
        None, description="PostgreSQL connection string (use ${env:NAME}); default: SQLite in the state directory."
    )


class PredictionLog(Resource[PredictionLogSettings]):
    """Where classifiers record their predictions, and outcomes join them later by key.

    Example:

    ```yaml
    resources:
      predictions: {uses: predictions.log}
    ```
    """

    name = "predictions.log"
    kind = "prediction log"

    def open(self) -> None:
        from components.gateway.store import PostgresDb, SqliteFile

        dsn = self.params.dsn
        self.db: Any = (
            PostgresDb(dsn, SCHEMA) if dsn else SqliteFile(self.context.state_dir / "predictions.sqlite", SQLITE_SCHEMA)
        )

    def close(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.close()

    def record(self, model: str, version: str, alias: str, key: str, prediction: str, confidence: float) -> None:
        with self.db.transaction() as execute:
            execute(
                "INSERT INTO dagwright_predictions (at, model, version, alias, key, prediction, confidence) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (time.time(), model, version, alias, key, prediction, float(confidence)),
            )

    def record_outcome(self, model: str, key: str, label: str, *, known_key: bool = False) -> Predicted | None:
        """The true label for ``key``, once known (a user's click, a reviewer's verdict); returns the latest
        prediction of ``model`` for ``key``. With ``known_key``, a key never predicted records nothing and returns
        None: one transaction reads and writes, so the check holds against a concurrent writer."""
        with self.db.transaction() as execute:
            row = execute(
                "SELECT version, alias, prediction FROM dagwright_predictions WHERE model = ? AND key = ? "
                "ORDER BY at DESC LIMIT 1",
                (model, key),
            ).fetchone()
            if row is None and known_key:
                return None
            execute("INSERT INTO dagwright_outcomes (at, model, key, label) VALUES (?, ?, ?, ?)",
                    (time.time(), model, key, label))  # fmt: skip
        return None if row is None else Predicted(*map(str, row))

    def keys(self, model: str) -> int:
        """How many distinct routing keys ``model`` has predictions for (for error messages)."""
        return int(self.db.execute(
            "SELECT COUNT(DISTINCT key) FROM dagwright_predictions WHERE model = ?", (model,)
        ).fetchone()[0])  # fmt: skip

    def outcomes(self, model: str, since: float = 0.0) -> list[Outcome]:
        """Each prediction since ``since`` whose key has an outcome, with the latest outcome recorded for it."""
        rows = self.db.execute(
            "SELECT p.version, p.prediction, o.label FROM dagwright_predictions p "
            "JOIN dagwright_outcomes o ON o.model = p.model AND o.key = p.key "
            "WHERE p.model = ? AND p.at >= ? AND o.at = (SELECT MAX(at) FROM dagwright_outcomes x "
            "WHERE x.model = o.model AND x.key = o.key)",
            (model, since),
        )
        return [Outcome(str(v), str(p), str(label)) for v, p, label in rows]

    def predictions(self, model: str) -> list[tuple[str, str, str, str]]:
        """(version, alias, key, prediction) of every recorded prediction of ``model``, oldest first."""
        rows = self.db.execute(
            "SELECT version, alias, key, prediction FROM dagwright_predictions WHERE model = ? ORDER BY at", (model,)
        )
        return [tuple(map(str, row)) for row in rows]  # type: ignore[misc]
