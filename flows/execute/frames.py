"""A port's value as a table Great Expectations can validate, one row per document (or one for a Checkable
value, such as an answer), with a `_row` column pointing back at the value's items so failing rows can be
quarantined."""

from __future__ import annotations

from typing import Any

from components.base import Checkable


def to_frame(kind: str, value: Any) -> Any:
    import pandas as pd

    if kind == "table":
        return value.assign(_row=range(len(value)))
    if isinstance(value, Checkable):
        return pd.DataFrame([{"_row": 0, **value.check_row(), "where": value.check_where()}])
    return pd.DataFrame(
        [_document_row(i, d) for i, d in enumerate(value)], columns=None if value else ["_row", "id", "content"]
    )


def _document_row(i: int, doc: Any) -> dict[str, Any]:
    import numpy as np

    row: dict[str, Any] = {"_row": i, "id": doc.id, "content": doc.content}
    row.update({f"meta.{k}": v for k, v in doc.meta.items() if v is not None and v != ""})
    if doc.embedding is not None:
        vector = np.asarray(doc.embedding, dtype="float64")
        row["embedding_dim"] = int(vector.size)
        row["embedding_finite"] = bool(np.isfinite(vector).all())
        row["embedding_norm"] = float(np.linalg.norm(vector)) if row["embedding_finite"] else None
    return row


def without_rows(kind: str, value: Any, rows: set[int]) -> Any:
    if kind == "table":
        return value.drop(value.index[sorted(rows)])
    return [item for i, item in enumerate(value) if i not in rows]


def rows_of(kind: str, value: Any, rows: set[int]) -> list[Any]:
    if kind == "table":
        return value.iloc[sorted(rows)].to_dict(orient="records")
    return [value[i] for i in sorted(rows)]
