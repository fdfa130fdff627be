"""Vector stores: one backend interface, one sync algorithm, one component per backend.

`store.chroma` is the embedded on-disk default, `store.pgvector` the PostgreSQL one, `store.memory` is for tests.
Retrievers open the same backends from the same settings.
"""
