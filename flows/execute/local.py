"""The in-process executor: no server, near-zero overhead per stage. Used by `serve`, tests and `run --local`.

Semantics match the Prefect executor: stages start when everything they depend on has finished; independent
stages run concurrently; a failed stage skips everything downstream while independent branches finish; retries,
retry delays, timeouts and the result cache come from the plan.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from flows.errors import StageFailed
from flows.execute.cache import ResultStore
from flows.execute.runtime import (
    NullReporter,
    Reporter,
    RunContext,
    RunResult,
    StageResult,
    call_with_timeout,
    default_store,
    execute_stage,
    failed_result,
    failure_gates,
    is_retryable,
    seconds_since,
    skipped_result,
)
from flows.execute.secrets import Secrets, scrubbed_exception, scrubbed_logs
from flows.execute.session import Session, provider_for
from flows.plan.planner import Plan, PlannedStage


def run_local(
    plan: Plan,
    params: Mapping[str, Any] | None = None,
    *,
    reporter: Reporter | None = None,
    store: ResultStore | None = None,
    use_cache: bool = True,
    max_workers: int = 8,
    dry_run: bool = False,
    session: Session | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Run ``plan`` in this process. ``dry_run`` runs every check but no stage that writes (`dagwright check`)."""
    started = time.perf_counter()
    bound = plan.bind_params(params or {})
    store = (store or default_store(plan)) if use_cache else None
    provider = provider_for(plan, session) if session is not None else None  # `serve` shares its app's session
    ctx = RunContext(plan, bound, store, reporter or NullReporter(), dry_run=dry_run, provider=provider)
    if run_id is not None:  # the caller's id (a served request's), so the LLM gateway's usage records carry it
        ctx.run_id = run_id
    with scrubbed_logs(ctx.secrets or Secrets()):
        results, first_error = _Scheduler(plan, ctx, max_workers).run()
    ordered = {s.id: results[s.id] for s in plan.stages}
    return RunResult(plan.name, bound, ordered, time.perf_counter() - started, first_error)


def run_stage_with_retries(stage: PlannedStage, ctx: RunContext, upstream: Mapping[str, StageResult]) -> StageResult:
    policies = stage.policies
    attempts = (policies.retries or 0) + 1
    elapsed = 0.0  # the attempts' own time, without the delays between them
    for attempt in range(1, attempts + 1):
        ctx.reporter.stage_started(stage.id, attempt)
        started = time.perf_counter()
        try:
            run = lambda attempt=attempt: execute_stage(stage, ctx, upstream, attempt)  # noqa: E731
            return call_with_timeout(run, policies.timeout, stage.id)
        except Exception as exc:
            elapsed += seconds_since(started, failure_gates(exc))
            if attempt == attempts or not is_retryable(exc):
                return failed_result(stage.id, exc, seconds=elapsed, attempts=attempt, secrets=ctx.secrets)
            shown = scrubbed_exception(exc, ctx.secrets or Secrets(), retryable=True)
            ctx.reporter.stage_retrying(stage.id, attempt, shown, policies.retry_delay or 0.0)
            time.sleep(policies.retry_delay or 0.0)
    raise AssertionError("unreachable")  # pragma: no cover


class _Scheduler:
    def __init__(self, plan: Plan, ctx: RunContext, max_workers: int) -> None:
        self.plan, self.ctx, self.max_workers = plan, ctx, max_workers
        self.results: dict[str, StageResult] = {}
        self.running: dict[Future[StageResult], str] = {}
        self.error: StageFailed | None = None
        self._pool: ThreadPoolExecutor | None = None

    def run(self) -> tuple[dict[str, StageResult], StageFailed | None]:
        try:
            while True:
                ready = self._ready()
                if not ready and not self.running:
                    return self.results, self.error
                if len(ready) == 1 and not self.running and ready[0].policies.timeout is None:
                    self._finish(self._execute(ready[0]))  # a chain needs no thread hop
                    continue
                for stage in ready:
                    # The caller's context variables (a streaming request's token listener) reach the stage.
                    run = contextvars.copy_context().run
                    self.running[self._pool_().submit(run, self._execute, stage)] = stage.id
                done, _ = wait(self.running, return_when=FIRST_COMPLETED)
                for future in done:
                    del self.running[future]
                    self._finish(future.result())
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    def _pool_(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix=f"dagwright-{self.plan.name}")
        return self._pool

    def _ready(self) -> list[PlannedStage]:
        busy = set(self.running.values())
        ready = []
        for stage in self.plan.stages:
            if stage.id in self.results or stage.id in busy:
                continue
            upstream = [self.results.get(u) for u in stage.upstream]
            blocked = next((r for r in upstream if r is not None and not r.ok), None)
            if blocked is not None:
                self._skip(stage, blocked)
            elif all(r is not None for r in upstream):
                ready.append(stage)
        return ready

    def _skip(self, stage: PlannedStage, because: StageResult) -> None:
        result = skipped_result(stage.id, because)
        self.results[stage.id] = result
        self.ctx.reporter.stage_finished(result)

    def _execute(self, stage: PlannedStage) -> StageResult:
        upstream = {u: self.results[u] for u in stage.upstream}
        return run_stage_with_retries(stage, self.ctx, upstream)

    def _finish(self, result: StageResult) -> None:
        self.results[result.stage] = result
        self.ctx.reporter.stage_finished(result)
        if result.status == "failed" and self.error is None:
            self.error = StageFailed(self.plan.name, result.stage, result.error or "")
