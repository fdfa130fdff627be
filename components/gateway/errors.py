"""What the gateway refuses or fails with. Messages name sizes, limits and providers, never an API key."""

from __future__ import annotations

from components.base import PermanentError


class GatewayError(RuntimeError):
    """Base of the gateway's errors."""


class ContextWindowExceeded(GatewayError, PermanentError):
    """The prompt and the reply it may take do not fit the model's context window; the same every attempt."""


class BudgetExceeded(GatewayError, PermanentError):
    """A pipeline's daily budget cannot cover the call's maximum cost; retrying today refuses again."""


class BudgetUnavailable(GatewayError):
    """Budgets apply but their ledger cannot be reached (its database is down): the call is not made, since
    nothing would stop it from overspending."""


class ProvidersFailed(GatewayError):
    """Every provider of the route failed or was skipped (circuit open); the message says why, one each."""
