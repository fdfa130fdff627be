"""Daily budgets, in tokens and in money, per pipeline and per endpoint, API key and organisation of the caller,
that hold under concurrent calls from threads, processes and hosts.

Before a call the gateway reserves its maximum (prompt tokens + max_tokens, priced as such) in every scope that
has a limit, in one transaction that reads each scope's spend of the day and inserts the reservation: two callers
can never both see room for one. SQLite takes the file's write lock (`BEGIN IMMEDIATE`); PostgreSQL takes a
transaction-level advisory lock per scope and day, in sorted order, so callers of unrelated scopes do not wait
on each other and overlapping ones cannot deadlock. After the call the reservation is settled to the real usage
(or released if the call failed), which frees the difference. A process killed mid-call leaves its reservation
counted for the day: the budget errs on the side of spending less.
"""

from __future__ import annotations

import datetime
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.gateway.errors import BudgetExceeded
from components.gateway.settings import BudgetSettings

if TYPE_CHECKING:
    from components.gateway.store import PostgresDb, SqliteFile
    from components.runinfo import RunInfo

# One schema for both databases (SQLite reads the PostgreSQL type names by affinity). One row per scope of a
# reservation; `hold` ties the rows of one call together.
SCHEMA = """
CREATE TABLE IF NOT EXISTS dagwright_budget_holds (
    hold TEXT NOT NULL,
    scope TEXT NOT NULL,
    day TEXT NOT NULL,
    tokens BIGINT NOT NULL,
    usd DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS dagwright_budget_holds_scope ON dagwright_budget_holds (scope, day);
CREATE INDEX IF NOT EXISTS dagwright_budget_holds_hold ON dagwright_budget_holds (hold);
"""
_SPENT = (
    "SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(usd), 0) FROM dagwright_budget_holds WHERE scope = ? AND day = ?"
)
_LABELS = {"pipeline": "pipeline", "endpoint": "endpoint", "key": "API key", "org": "organisation"}
# The RunInfo field that names the caller's scope of each kind.
_FIELDS = {"pipeline": "pipeline", "endpoint": "endpoint", "key": "key_id", "org": "org"}


def today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


@dataclass(frozen=True)
class Scope:
    kind: str  # pipeline, endpoint, key, org
    name: str
    max_tokens: int | None
    max_usd: float | None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    def check(self, spent_tokens: int, spent_usd: float, tokens: int, usd: float) -> None:
        _check(self, "tokens", spent_tokens, tokens, self.max_tokens)
        _check(self, "usd", spent_usd, usd, self.max_usd)


def scopes_of(settings: BudgetSettings, run: RunInfo) -> list[Scope]:
    """The scopes a call of ``run`` is counted in: those with a limit. A call outside `dagwright serve` has no
    endpoint, key nor organisation; one outside a pipeline falls under the pipelines' `'*'`."""
    found = []
    for kind, limits in settings.kinds().items():
        name = getattr(run, _FIELDS[kind])
        if not name and kind != "pipeline":
            continue
        max_tokens, max_usd = limits.limits(name)
        if max_tokens is not None or max_usd is not None:
            found.append(Scope(kind, name, max_tokens, max_usd))
    return found


class BudgetLedger:
    """The reservations, in a SQLite file (default) or PostgreSQL (`usage_dsn`); see the module's docstring."""

    def __init__(self, db: SqliteFile | PostgresDb, settings: BudgetSettings) -> None:
        self.db, self.settings = db, settings

    def reserve(self, run: RunInfo, tokens: int, usd: float) -> str | None:
        """Reserve a call's maximum in each of its scopes; the reservation's id, or None when no budget applies.
        Raises BudgetExceeded naming the first scope that cannot cover it."""
        scopes = scopes_of(self.settings, run)
        if not scopes:
            return None
        hold, day, now = uuid.uuid4().hex, today(), time.time()
        with self.db.transaction([f"{s.key}|{day}" for s in scopes]) as execute:
            for scope in scopes:
                spent_tokens, spent_usd = execute(_SPENT, (scope.key, day)).fetchone()
                scope.check(int(spent_tokens), float(spent_usd), tokens, usd)
            for scope in scopes:
                execute(
                    "INSERT INTO dagwright_budget_holds (hold, scope, day, tokens, usd, state, at) "
                    "VALUES (?, ?, ?, ?, ?, 'reserved', ?)",
                    (hold, scope.key, day, tokens, usd, now),
                )
        return hold

    def settle(self, hold: str | None, tokens: int, usd: float) -> None:
        if hold is not None:
            self.db.execute(
                "UPDATE dagwright_budget_holds SET tokens = ?, usd = ?, state = 'settled' WHERE hold = ?",
                (tokens, usd, hold),
            )

    def release(self, hold: str | None) -> None:
        if hold is not None:
            self.db.execute("DELETE FROM dagwright_budget_holds WHERE hold = ?", (hold,))

    def spent(self, kind: str, name: str, day: str | None = None) -> tuple[int, float]:
        """Tokens and dollars settled or reserved in scope ``kind`` ``name`` (pipeline "ask", key "3f2a..."),
        on ``day`` (default today)."""
        tokens, usd = self.db.execute(_SPENT, (f"{kind}:{name}", day or today())).fetchone()
        return int(tokens), float(usd)


def _check(scope: Scope, unit: str, spent: float, wanted: float, limit: float | None) -> None:
    # The epsilon forgives float sums of prices (5 x 0.004 is 0.020000000000000004), not real overspend.
    if limit is not None and spent + wanted > limit + 1e-9:
        shown = (lambda v: f"${v:.4f}") if unit == "usd" else (lambda v: f"{int(v):,} tokens")
        raise BudgetExceeded(
            f"{_LABELS[scope.kind]} '{scope.name or '(none)'}': daily budget of {shown(limit)} exhausted: "
            f"{shown(spent)} spent or reserved today, this call may take up to {shown(wanted)}"
        )
