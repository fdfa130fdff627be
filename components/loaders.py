"""Loaders: read a folder of files into documents (markdown, text, reStructuredText, HTML, PDF)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field

from components.base import Component, ComponentParams
from components.documents import Document

FORMATS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".rst": "rst",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}


class LoaderError(Exception):
    """A loader could not read its source; the message names the file."""


class FileLoaderParams(ComponentParams):
    path: str = Field(description="Folder to read, relative to the working directory or absolute.")
    pattern: str = Field("**/*", description="Glob of the files to read, relative to `path`.")
    encoding: str = "utf-8"
    max_files: int = Field(10_000, ge=1, description="Refuse to read more files than this.")


class FileLoader(Component[FileLoaderParams]):
    """Reads the files under a folder that match a glob, one document per file.

    Formats by extension: .md/.markdown, .txt, .rst, .html/.htm (text outside scripts and styles; h1-h6 become
    markdown headings) and .pdf (text of every page, with pypdf). Other files that match are skipped. Each
    document's meta carries `source` (the path relative to the folder), `title` (first heading, HTML title or PDF
    title, else the file name), `format`, `modified` (ISO time) and `heading_path` (empty: the whole file); its
    id hashes source and content. Files are read in sorted order.

    Example:

    ```yaml
    uses: loader.files
    with:
      path: ${params.source}
      pattern: "**/*"
    ```
    """

    name = "loader.files"
    # A loader's job is to notice that files changed, so its output is never served from cache.
    cacheable = False
    default_checks = {"outputs": {"output": [{"count": {"min": 1}}, {"text_length": {"min": 1}}, "unique_ids"]}}

    def run(self) -> list[Document]:
        root = Path(self.params.path)
        if not root.is_dir():
            raise LoaderError(f"loader.files: folder '{root}' does not exist")
        pattern = self.params.pattern
        files = sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in FORMATS)
        if len(files) > self.params.max_files:
            raise LoaderError(f"loader.files: {len(files)} files match, more than max_files={self.params.max_files}")
        return [self._read(root, f) for f in files]

    def _read(self, root: Path, file: Path) -> Document:
        kind = FORMATS[file.suffix.lower()]
        text, title = _pdf(file) if kind == "pdf" else self._text(file, kind)
        modified = datetime.fromtimestamp(file.stat().st_mtime, tz=UTC).isoformat()
        source = file.relative_to(root).as_posix()
        # heading_path is the root for a whole file; chunker.sections sets it per chunk.
        return Document.from_source(
            source, text, title=title or file.stem, format=kind, modified=modified, heading_path=[]
        )

    def _text(self, file: Path, kind: str) -> tuple[str, str | None]:
        try:
            raw = file.read_text(encoding=self.params.encoding)
        except UnicodeDecodeError as exc:
            raise LoaderError(f"loader.files: {file} is not {self.params.encoding} text: {exc.reason}") from None
        if kind == "html":
            from components.htmltext import html_text  # html.parser: ~4 ms that validate need not pay

            return html_text(raw)
        return raw, _title(raw, kind)


def _title(text: str, kind: str) -> str | None:
    lines = text.splitlines()
    if kind == "markdown":
        return next((line.lstrip("#").strip() for line in lines if re.match(r"^#{1,6}\s", line)), None)
    if kind == "rst":
        for above, below in itertools.pairwise(lines):
            if (
                above.strip()
                and re.match(r"^([=\-~^\"'`#*+])\1{2,}\s*$", below)
                and len(below.strip()) >= len(above.strip())
            ):
                return above.strip()
    return None


def _pdf(file: Path) -> tuple[str, str | None]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(file)
        text = "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
        title = reader.metadata.title if reader.metadata else None
    except (PdfReadError, ValueError, KeyError) as exc:
        raise LoaderError(f"loader.files: cannot read PDF {file}: {exc}") from None
    return text.strip(), title
