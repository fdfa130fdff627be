"""Store settings as retrievers name them: `store: {type: chroma, path: ..., collection: ...}`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from components.stores.chroma import ChromaSettings
from components.stores.memory import MemorySettings
from components.stores.pgvector import PgvectorSettings

AnyStore = Annotated[ChromaSettings | PgvectorSettings | MemorySettings, Field(discriminator="type")]
