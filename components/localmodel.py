"""The settings of the embedded llama.cpp server, shared by every LLM setting that starts it (`llm.openai` and the
gateway's `llama_cpp` providers) when its `base_url` is unset."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from components.base import ComponentParams

if TYPE_CHECKING:
    from components.llmserver import LocalServer


class LocalModelSettings(ComponentParams):
    local_context: int = Field(4096, ge=512, le=32768, description="Context size of the embedded local model.")
    local_threads: int = Field(2, ge=1, le=64, description="Threads of the embedded local model.")
    local_parallel: int = Field(
        2, ge=1, le=16, description="Requests the embedded local model decodes at once, each with local_context."
    )

    def local_server(self, log: Path) -> LocalServer:
        """The embedded server these settings describe, not yet started; it writes its log to ``log``."""
        from components.llmserver import LocalServer

        return LocalServer(log, self.local_context, self.local_threads, self.local_parallel)
