"""Chunkers: documents into passages that fit an embedder's token window, counted with that embedder's tokenizer.

`chunker.tokens` slides a window with overlap; `chunker.sections` first splits at markdown/rst headings (each
chunk keeps its heading path) and windows only the sections that are too long. Haystack's DocumentSplitter is
not reused: it counts words or tiktoken tokens (a download), not the embedder's own WordPiece tokens, so its
chunks could overflow MiniLM's window.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from components.base import Component, ComponentParams, WindowFitted
from components.documents import Document
from components.models import ModelFileError, minilm_tokenizer, minilm_tokenizer_file

SPECIAL_TOKENS = 2  # [CLS] and [SEP] take two places in every window


class ChunkerParams(ComponentParams):
    chunk_size: int = Field(512, ge=8, le=8192, description="Tokens per chunk (capped at the embedder's window).")
    overlap: int = Field(64, ge=0, description="Tokens shared by consecutive chunks of one text.")
    tokenizer: Literal["minilm", "words"] = Field("minilm", description="minilm = embedder.onnx's own tokenizer.")
    source_header: bool = Field(False, description="Start each chunk with 'SOURCE: path > heading path'.")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkerParams:
        if self.overlap >= self.chunk_size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than chunk_size ({self.chunk_size})")
        return self


def token_spans(text: str, tokenizer: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of each token."""
    if tokenizer == "words":
        return [m.span() for m in re.finditer(r"\S+", text)]
    return [span for span in minilm_tokenizer().encode(text, add_special_tokens=False).offsets if span[1] > span[0]]


def windows(text: str, params: ChunkerParams) -> list[str]:
    """The text cut into windows of ``chunk_size`` tokens that overlap by ``overlap`` tokens."""
    spans = token_spans(text, params.tokenizer)
    if not spans:
        return []
    step = params.chunk_size - params.overlap
    out = []
    for start in range(0, len(spans), step):
        end = min(start + params.chunk_size, len(spans))
        out.append(text[spans[start][0] : spans[end - 1][1]])
        if end == len(spans):
            break
    return out


class _Chunker(Component[ChunkerParams], WindowFitted[ChunkerParams]):
    default_checks = {
        "outputs": {
            "output": [{"text_length": {"min": 1}}, "unique_ids", {"required_meta": {"keys": ["source", "doc_id"]}}]
        }
    }
    libraries = ("tokenizers",)

    @classmethod
    def referenced_files(cls, params: ChunkerParams, project_root: Path) -> list[Path]:
        """MiniLM's tokenizer.json, which places the chunk boundaries when ``tokenizer`` is minilm."""
        if params.tokenizer != "minilm":
            return []
        try:
            return [minilm_tokenizer_file()]
        except ModelFileError:  # the stage fails when it runs, saying which package to install
            return []

    @classmethod
    def fit_to_window(cls, params: ChunkerParams, window: int, consumer: str) -> tuple[dict[str, Any], str] | None:
        """Param changes that make chunks fit a downstream embedder's window, with the note to show; or None."""
        limit = window - SPECIAL_TOKENS
        if params.chunk_size <= limit:
            return None
        # Keep the overlap unless it would eat half of every capped chunk.
        overlap = params.overlap if params.overlap < limit // 2 else limit // 4
        note = (
            f"chunk_size {params.chunk_size} exceeds the {window}-token window of {consumer}; "
            f"chunks are capped at {limit} tokens (the window less [CLS] and [SEP])"
        )
        if overlap != params.overlap:
            note += f", overlap {params.overlap} lowered to {overlap}"
        return {"chunk_size": limit, "overlap": overlap}, note

    def _chunk(self, document: Document, index: int, text: str, heading_path: list[str]) -> Document:
        p = self.params
        source = document.meta.get("source", document.id)
        if p.source_header:
            where = " > ".join([source, *heading_path])
            text = f"SOURCE: {where}\n{text}"
        digest = hashlib.sha256(f"{document.id}:{index}:{text}".encode()).hexdigest()[:32]
        meta = {**document.meta, "doc_id": document.id, "chunk": index, "heading_path": heading_path}
        return Document(digest, text, meta)


class TokenChunker(_Chunker):
    """Cuts each document into windows of `chunk_size` tokens overlapping by `overlap` tokens.

    Example:

    ```yaml
    uses: chunker.tokens
    with: {chunk_size: 256, overlap: 32}
    inputs: {documents: load.output}
    ```
    """

    name = "chunker.tokens"

    def run(self, documents: list[Document]) -> list[Document]:
        out = []
        for document in documents:
            path = list(document.meta.get("heading_path", []))
            texts = windows(document.content, self.params)
            out += [self._chunk(document, i, text, path) for i, text in enumerate(texts)]
        return out


@dataclass(frozen=True)
class Section:
    heading_path: list[str]
    text: str


_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:.])\1{2,}\s*$")


def sections(text: str, source: str) -> list[Section]:
    """Split at headings: markdown ATX headings (`#`..`######`) or, for .rst files, underlined titles."""
    if source.endswith(".rst"):
        return _rst_sections(text)
    return _markdown_sections(text)


def _markdown_sections(text: str) -> list[Section]:
    found: list[Section] = []
    path: list[str] = []
    body: list[str] = []
    fenced = False
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _ATX.match(line.rstrip("\n"))
        if heading:
            _close(found, path, body)
            level = len(heading.group(1))
            path = [*path[: level - 1], heading.group(2)]
            body = [line]
        else:
            body.append(line)
    _close(found, path, body)
    return found


def _rst_sections(text: str) -> list[Section]:
    found: list[Section] = []
    levels: list[str] = []  # rst levels: the order in which underline characters first appear
    path: list[str] = []
    lines = text.splitlines(keepends=True)
    body: list[str] = []
    i = 0
    while i < len(lines):
        title, underline = lines[i].strip(), lines[i + 1].rstrip() if i + 1 < len(lines) else ""
        match = _RST_UNDERLINE.match(underline)
        if title and match and len(underline) >= len(title) and not _RST_UNDERLINE.match(lines[i].rstrip()):
            _close(found, path, body[:-1] if body and _RST_UNDERLINE.match(body[-1].rstrip()) else body)
            if match.group(1) not in levels:
                levels.append(match.group(1))
            level = levels.index(match.group(1)) + 1
            path = [*path[: level - 1], title]
            body = [lines[i], lines[i + 1]]
            i += 2
            continue
        body.append(lines[i])
        i += 1
    _close(found, path, body)
    return found


def _close(found: list[Section], path: list[str], body: list[str]) -> None:
    text = "".join(body).strip()
    if text:
        found.append(Section(list(path), text))


class SectionChunker(_Chunker):
    """Splits markdown and rst documents at their headings; each chunk keeps its `heading_path` in meta.

    A section longer than `chunk_size` tokens is windowed with `overlap`; other files are windowed whole.

    Example:

    ```yaml
    uses: chunker.sections
    with: {chunk_size: 256, overlap: 32, source_header: true}
    inputs: {documents: load.output}
    ```
    """

    name = "chunker.sections"

    def run(self, documents: list[Document]) -> list[Document]:
        out: list[Document] = []
        for document in documents:
            index = 0
            for section in sections(document.content, str(document.meta.get("source", ""))):
                for text in windows(section.text, self.params):
                    out.append(self._chunk(document, index, text, section.heading_path))
                    index += 1
        return out
