"""Vector stores: one contract (`VectorStore`), one sync algorithm, one `store.write` component.

Backends are resource types: `store.chroma` is the embedded on-disk default, `store.pgvector` the PostgreSQL one,
`store.memory` is for tests. Retrievers take the same resources.
"""
