"""A circuit breaker per provider: after ``threshold`` consecutive failures it opens and the gateway skips the
provider (straight to the fallback) instead of waiting on timeouts; after ``cooldown`` seconds it lets one trial
call through (half-open); a success closes it, a failure opens it again for another cool-down."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(self, threshold: int = 3, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.threshold, self.cooldown, self.clock = threshold, cooldown, clock
        self._lock = threading.Lock()  # stage threads share one gateway
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open trial call is in flight
        self.opened = 0  # how many times it opened, for metrics and tests

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self.clock() - self._opened_at >= self.cooldown:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether a call may go to the provider now; in half-open, only one trial at a time."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "open" or self._trial:
                return False
            self._trial = True
            return True

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial = 0, None, False

    def abandon(self) -> None:
        """A call that ended for a reason of its own (too long, over budget, a bad request): no verdict on the
        provider, but a half-open trial slot is freed."""
        with self._lock:
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial or (self._opened_at is None and self._failures >= self.threshold):
                self._opened_at, self._trial = self.clock(), False
                self.opened += 1

    def snapshot(self) -> dict[str, object]:
        """State, consecutive failures and times opened: what metrics show."""
        with self._lock:
            return {"state": self._state(), "failures": self._failures, "opened": self.opened}
