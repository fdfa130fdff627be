"""`store.pgvector`: chunks in PostgreSQL with the pgvector extension and an HNSW index (cosine).

Written with psycopg and pgvector directly rather than pgvector-haystack, to avoid its sharp edges: its index
names are schema-global (a second table fails with DuplicateTable), so ours derive from the table name; and the
HNSW build is slow under the default 64 MB `maintenance_work_mem`, so we raise it for the session. A sync runs in
one transaction, the manifest (base.py, table `dagwright_manifest`) included: a failure or a kill of the writing
process leaves the table and its manifest as they were.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import Field

from components.documents import Document
from components.stores.base import HnswSettings, StoreError, VectorStore, doc_id_of, source_of

if TYPE_CHECKING:
    import psycopg

    from components.stores.pgserver import EmbeddedPostgres


class _QuietPipelineAbort(logging.Filter):
    """psycopg warns when it tears down a batch insert that failed; the failure itself is raised as a StoreError,
    so on the console the warning only repeated it, in psycopg's words."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("error ignored terminating")


logging.getLogger("psycopg").addFilter(_QuietPipelineAbort())


F = TypeVar("F", bound=Callable[..., Any])


def _reconnecting(read: F) -> F:
    """A read that finds the connection lost (the server restarted, or crashed and recovered) reconnects and
    runs once more; inside a transaction the error stands, as the transaction is gone."""

    @functools.wraps(read)
    def wrapper(self: PgvectorStore, *args: Any, **kwargs: Any) -> Any:
        import psycopg

        try:
            return read(self, *args, **kwargs)
        except psycopg.OperationalError:
            if self._in_transaction or self._conn is None or not self._conn.broken:
                raise
            self._connect()
            return read(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class PgvectorSettings(HnswSettings):
    dsn: str | None = Field(
        None,
        description="PostgreSQL connection string; use ${env:NAME} when it holds a password. Without one, the "
        "store runs its own embedded PostgreSQL server in `path`.",
    )
    path: str | None = Field(
        None,
        description="Folder of the embedded server (when no dsn), relative to the project; default: "
        "the state folder's `pgvector`.",
    )
    maintenance_work_mem: str = Field("1GB", pattern=r"^\d+(kB|MB|GB)$", description="For HNSW builds.")


class PgvectorStore(VectorStore[PgvectorSettings]):
    """Chunks in a PostgreSQL table with pgvector and an HNSW index (cosine); a sync is one transaction. With a
    `dsn` it uses that server; without one it starts an embedded server (pgserver.py): the default store.

    Example:

    ```yaml
    resources:
      docs: {uses: store.pgvector, with: {collection: docs}}  # embedded, in .dagwright/pgvector
      prod_docs: {uses: store.pgvector, with: {dsn: "${env:DAGWRIGHT_PG_DSN}", collection: docs}}
    ```
    """

    name = "store.pgvector"
    _conn: psycopg.Connection[Any] | None = None  # opened by open()
    _server: EmbeddedPostgres | None = None  # without a dsn

    @property
    def label(self) -> str:
        where = f" in {self._server.folder}" if self._server is not None else ""
        return f"{self.name} '{self.params.collection}'{where}"

    def backend_errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error, OSError)

    def open(self) -> None:
        self.table = f"dagwright_{self.params.collection.replace('-', '_').lower()}"
        self.lock = threading.RLock()
        self._in_transaction = False
        if self.params.dsn is None:
            from components.stores.pgserver import EmbeddedPostgres  # here: `validate` never needs it

            self._server = EmbeddedPostgres(self._server_folder())
        self._connect()

    def _server_folder(self) -> Path:
        path = self.params.path
        return self.context.path(path) if path else self.context.state_dir / "pgvector"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._server is not None:
            self._server.leave()

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise StoreError(f"{self.label}: used before open()")
        if self._conn.broken and not self._in_transaction:
            # The server went away (a restart, or a crash on a full disk that PostgreSQL recovers from): a
            # long-lived reader such as `serve` reconnects instead of failing until it restarts.
            self._connect()
        return self._conn

    def _dsn(self) -> str:
        if self._server is None:
            return str(self.params.dsn)
        from components.stores.pgserver import EmbeddedServerError

        try:
            return self._server.join()  # starts the server again if it stopped
        except EmbeddedServerError as exc:
            raise StoreError(f"{self.label}: {exc}") from None

    def describe(self, exc: BaseException) -> str:
        """The driver's message; when the embedded server dropped the connection, the reason it logged."""
        text = super().describe(exc)
        reason = self._server.failure(since=self._log_mark) if self._server is not None else ""
        return f"{text}; the server logged: {reason}" if reason else text

    def _connect(self) -> None:
        import psycopg

        dsn = self._dsn()
        self._log_mark = self._server.log_size() if self._server is not None else 0
        with self.errors("connecting"):
            self._conn = self._prepared(psycopg.connect(dsn, autocommit=True))

    def _prepared(self, conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
        from pgvector.psycopg import register_vector

        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        conn.execute(f"SET maintenance_work_mem = '{self.params.maintenance_work_mem}'")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS dagwright_versions (collection text PRIMARY KEY, version text NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS dagwright_manifest (collection text NOT NULL, source text NOT NULL, "
            "digest text NOT NULL, PRIMARY KEY (collection, source))"
        )
        return conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock, self.conn.transaction():
            self._in_transaction = True
            try:
                yield
            finally:
                self._in_transaction = False

    def _exists(self) -> bool:
        row = self.conn.execute("SELECT to_regclass(%s)", (self.table,)).fetchone()
        return bool(row and row[0])

    def _create(self, dims: int) -> None:
        t = self.table
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {t} (id text PRIMARY KEY, source text NOT NULL, doc_id text NOT NULL, "
            f"content text NOT NULL, meta jsonb NOT NULL, embedding vector({dims}) NOT NULL)"
        )
        self.conn.execute(f"CREATE INDEX IF NOT EXISTS {t}_source_idx ON {t} (source)")
        self.conn.execute(
            f"CREATE INDEX IF NOT EXISTS {t}_hnsw_idx ON {t} USING hnsw (embedding vector_cosine_ops) "
            f"WITH (m = {self.params.hnsw_m}, ef_construction = {self.params.hnsw_ef_construction})"
        )

    @_reconnecting
    def manifest(self) -> dict[str, str]:
        rows = self.conn.execute("SELECT source, digest FROM dagwright_manifest WHERE collection = %s", (self.table,))
        return dict(rows.fetchall())

    def commit_manifest(self, entries: Mapping[str, str], drop: Iterable[str] = ()) -> None:
        with self.lock, self.conn.transaction():  # a savepoint inside a sync's transaction
            self.conn.execute(
                "DELETE FROM dagwright_manifest WHERE collection = %s AND source = ANY(%s)", (self.table, list(drop))
            )
            with self.conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO dagwright_manifest VALUES (%s, %s, %s) ON CONFLICT (collection, source) "
                    "DO UPDATE SET digest = EXCLUDED.digest",
                    [(self.table, s, d) for s, d in entries.items()],
                )

    @_reconnecting
    def stored_chunks(self) -> Iterable[tuple[str, str, str]]:
        if not self._exists():
            return []
        # The same hash as base.content_hash: sha256 of the UTF-8 text (stored without NULs).
        rows = self.conn.execute(
            f"SELECT source, id, encode(sha256(convert_to(content, 'UTF8')), 'hex') FROM {self.table}"
        )
        return rows.fetchall()

    @_reconnecting
    def ids_for_sources(self, sources: list[str]) -> list[str]:
        if not sources or not self._exists():
            return []
        return [r[0] for r in self.conn.execute(f"SELECT id FROM {self.table} WHERE source = ANY(%s)", (sources,))]

    @_reconnecting
    def dimension(self) -> int | None:
        if not self._exists():
            return None
        row = self.conn.execute(f"SELECT vector_dims(embedding) FROM {self.table} LIMIT 1").fetchone()
        return int(row[0]) if row else None

    def upsert(self, documents: list[Document]) -> None:
        if not documents:
            return
        with self.lock:
            self._create(len(documents[0].embedding))
            with self.conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {self.table} (id, source, doc_id, content, meta, embedding) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, "
                    "doc_id = EXCLUDED.doc_id, content = EXCLUDED.content, meta = EXCLUDED.meta, "
                    "embedding = EXCLUDED.embedding",
                    [self._row(d) for d in documents],
                )
            self._bump()

    def _row(self, d: Document) -> tuple[Any, ...]:
        source, doc_id = source_of(d), doc_id_of(d)
        meta = json.dumps(d.meta, default=str).replace("\\u0000", "")
        return (d.id, source, doc_id, _text(d.content), meta, d.embedding)

    def delete_ids(self, ids: list[str]) -> None:
        if ids and self._exists():
            with self.lock:
                self.conn.execute(f"DELETE FROM {self.table} WHERE id = ANY(%s)", (ids,))
                self._bump()

    def _bump(self) -> None:
        import uuid  # here: its import is ~1 ms of every `validate`

        self.conn.execute(
            "INSERT INTO dagwright_versions VALUES (%s, %s) ON CONFLICT (collection) DO UPDATE SET version = "
            "EXCLUDED.version",
            (self.table, uuid.uuid4().hex),
        )

    @_reconnecting
    def content_version(self) -> str:
        row = self.conn.execute(
            "SELECT version FROM dagwright_versions WHERE collection = %s", (self.table,)
        ).fetchone()
        return row[0] if row else "empty"

    @_reconnecting
    def count(self, where: Mapping[str, Any] | None = None) -> int:
        if not self._exists():
            return 0
        clause, args = _where(where)
        row = self.conn.execute(f"SELECT count(*) FROM {self.table} {clause}", args).fetchone()
        return int(row[0]) if row else 0

    @_reconnecting
    def search(self, vector: Any, top_k: int, where: Mapping[str, Any] | None = None) -> list[Document]:
        import numpy as np

        if not self._exists():
            return []
        clause, args = _where(where)
        query = np.asarray(vector, dtype="float32")
        with self.lock, self.conn.transaction():
            self.conn.execute(f"SET LOCAL hnsw.ef_search = {int(self.params.hnsw_ef_search)}")
            rows = self.conn.execute(
                f"SELECT id, content, meta, embedding, 1 - (embedding <=> %s) FROM {self.table} {clause} "
                "ORDER BY embedding <=> %s LIMIT %s",
                (query, *args, query, top_k),
            ).fetchall()
        return [Document(i, c, m, _array(e), float(s)) for i, c, m, e, s in rows]

    @_reconnecting
    def documents(self, where: Mapping[str, Any] | None = None) -> list[Document]:

        if not self._exists():
            return []
        clause, args = _where(where)
        rows = self.conn.execute(f"SELECT id, content, meta, embedding FROM {self.table} {clause}", args)
        return [Document(i, c, m, _array(e)) for i, c, m, e in rows.fetchall()]


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL characters (real documents do contain them); they carry no meaning here.
    return value.replace("\x00", "")


def _array(value: Any) -> Any:
    import numpy as np

    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype="float32")


def _where(where: Mapping[str, Any] | None) -> tuple[str, tuple[Any, ...]]:
    """Equality filters as SQL on the jsonb meta column (a list means any of its values)."""
    if not where:
        return "", ()
    parts, args = [], []
    for key, value in where.items():
        values = value if isinstance(value, list) else [value]
        parts.append("(" + " OR ".join(["meta @> %s::jsonb"] * len(values)) + ")")
        args += [json.dumps({key: v}) for v in values]
    return "WHERE " + " AND ".join(parts), tuple(args)
