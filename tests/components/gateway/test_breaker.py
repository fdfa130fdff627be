"""The circuit breaker's states on a clock the test moves."""

from __future__ import annotations

from components.gateway.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_it_opens_after_n_consecutive_failures_and_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10, clock=Clock())
    breaker.failure()
    breaker.failure()
    breaker.success()  # not consecutive any more
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    assert breaker.snapshot() == {"state": "open", "failures": 3, "opened": 1}


def test_after_the_cooldown_one_trial_goes_through_and_its_success_closes_the_circuit() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=10, clock=clock)
    breaker.failure()
    clock.now = 9.9
    assert not breaker.allow()
    clock.now = 10
    assert breaker.state == "half_open"
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_a_failed_trial_opens_it_for_another_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, cooldown=10, clock=clock)
    breaker.failure()
    breaker.failure()
    clock.now = 10
    assert breaker.allow()
    breaker.failure()  # one failed trial is enough, whatever the threshold
    assert breaker.state == "open" and breaker.opened == 2
    clock.now = 19
    assert not breaker.allow()
    clock.now = 20
    assert breaker.allow()


def test_an_abandoned_trial_frees_the_slot_without_a_verdict() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=5, clock=clock)
    breaker.failure()
    clock.now = 5
    assert breaker.allow()
    breaker.abandon()  # e.g. the request was over budget: the provider was never asked
    assert breaker.state == "half_open" and breaker.allow()
