"""The LLM gateway: the one boundary every model call crosses (issue 10).

`llm.gateway` (resource.py) is an LLM provider resource. Around each call it serves the exact cache (cache.py),
counts tokens offline and checks the context window (tokens.py), reserves and settles budgets (budgets.py),
retries with jittered backoff and falls back along a route of providers (retry.py, providers.py) guarded by one
circuit breaker each (breaker.py), and records the call (usage.py). backends.py puts the caches in SQLite or Redis
(redis_caches.py) and the records and budgets in SQLite or PostgreSQL (store.py), from the settings.
"""
