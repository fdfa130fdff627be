"""Daily budgets per pipeline, in tokens and in money, that hold under concurrent calls from threads and
processes.

Before a call the gateway reserves its maximum (prompt tokens + max_tokens, priced as such) in one SQLite
transaction that reads the day's spend and inserts the reservation under `BEGIN IMMEDIATE`, the database's write
lock: two callers can never both see room for one. After the call the reservation is settled to the real usage
(or released if the call failed), which frees the difference for later calls. A process killed mid-call leaves
its reservation counted for the day: the budget errs on the side of spending less.
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path

from components.gateway.errors import BudgetExceeded
from components.gateway.settings import BudgetSettings
from components.gateway.store import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    id INTEGER PRIMARY KEY,
    pipeline TEXT NOT NULL,
    day TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    usd REAL NOT NULL,
    state TEXT NOT NULL,  -- reserved | settled
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS spend_day ON spend (pipeline, day);
"""


def today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


class BudgetLedger:
    def __init__(self, path: Path, settings: BudgetSettings) -> None:
        self.settings = settings
        self.file = SqliteFile(path, _SCHEMA)

    def reserve(self, pipeline: str, tokens: int, usd: float) -> int | None:
        """Reserve a call's maximum; its id, or None when no budget applies. Raises BudgetExceeded."""
        max_tokens, max_usd = self.settings.limits(pipeline)
        if max_tokens is None and max_usd is None:
            return None
        db, day = self.file.db(), today()
        db.execute("BEGIN IMMEDIATE")
        try:
            spent_tokens, spent_usd = db.execute(
                "SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(usd), 0) FROM spend WHERE pipeline = ? AND day = ?",
                (pipeline, day),
            ).fetchone()
            _check(pipeline, "tokens", spent_tokens, tokens, max_tokens)
            _check(pipeline, "usd", spent_usd, usd, max_usd)
            cursor = db.execute(
                "INSERT INTO spend (pipeline, day, tokens, usd, state, at) VALUES (?, ?, ?, ?, 'reserved', ?)",
                (pipeline, day, tokens, usd, time.time()),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return cursor.lastrowid

    def settle(self, reservation: int | None, tokens: int, usd: float) -> None:
        if reservation is not None:
            self.file.db().execute(
                "UPDATE spend SET tokens = ?, usd = ?, state = 'settled' WHERE id = ?", (tokens, usd, reservation)
            )

    def release(self, reservation: int | None) -> None:
        if reservation is not None:
            self.file.db().execute("DELETE FROM spend WHERE id = ?", (reservation,))

    def spent(self, pipeline: str, day: str | None = None) -> tuple[int, float]:
        """Tokens and dollars settled or reserved for ``pipeline`` on ``day`` (default today)."""
        row = self.file.db().execute(
            "SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(usd), 0) FROM spend WHERE pipeline = ? AND day = ?",
            (pipeline, day or today()),
        )
        tokens, usd = row.fetchone()
        return int(tokens), float(usd)


def _check(pipeline: str, unit: str, spent: float, wanted: float, limit: float | None) -> None:
    # The epsilon forgives float sums of prices (5 x 0.004 is 0.020000000000000004), not real overspend.
    if limit is not None and spent + wanted > limit + 1e-9:
        shown = (lambda v: f"${v:.4f}") if unit == "usd" else (lambda v: f"{int(v):,} tokens")
        raise BudgetExceeded(
            f"pipeline '{pipeline or '(none)'}': daily budget of {shown(limit)} exhausted: {shown(spent)} spent or "
            f"reserved today, this call may take up to {shown(wanted)}"
        )
