"""The planner's passes, run in this order over one PlanningContext per pipeline.

Each pass is a function ``(ctx: PlanningContext) -> None`` that reads what earlier passes recorded on the
context and appends its problems to ``ctx.problems``. To add a pass, write it in a module here and add it to
PASSES (and a field to PlanningContext if later passes or the Plan need what it finds).
"""

from __future__ import annotations

from collections.abc import Callable

from flows.plan.passes.checks import resolve_checks
from flows.plan.passes.context import PlanningContext
from flows.plan.passes.edges import check_edges
from flows.plan.passes.files import check_referenced_files
from flows.plan.passes.order import order_stages
from flows.plan.passes.params import check_params
from flows.plan.passes.resolve import resolve_components
from flows.plan.passes.resources import check_resources
from flows.plan.passes.windows import fit_token_windows

Pass = Callable[[PlanningContext], None]

PASSES: tuple[Pass, ...] = (
    resolve_components,  # uses -> component class
    check_params,  # param defaults, `with`, ports
    check_edges,  # inputs, edge types, required inputs, `after`
    resolve_checks,  # data-quality checks per port
    check_resources,  # the resources stages name: exist under every profile, of the kind needed
    check_referenced_files,  # files the params name (prompt templates): exist, and fit
    order_stages,  # topological order, cycles
    fit_token_windows,  # chunk sizes capped at downstream token windows (notes, not problems)
)

__all__ = ["PASSES", "Pass", "PlanningContext"]
