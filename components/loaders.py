"""Loaders: read files into documents."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field

from components.base import Component, ComponentParams
from components.documents import Document


class LoaderError(Exception):
    """A loader could not read its source."""


class TextLoader(Component):
    """Reads the text files under a folder that match a glob, one document per file.

    Each document's meta carries ``source`` (the path relative to the folder), ``title`` (the first heading or
    the file name) and ``modified`` (ISO time). Files are read in sorted order, so runs are reproducible.

    Example:

    ```yaml
    uses: loader.text
    with:
      path: ${params.source}
      pattern: "**/*.md"
    ```
    """

    name = "loader.text"
    # A loader's job is to notice that files changed, so its output is never served from cache.
    cacheable = False

    class Params(ComponentParams):
        path: str = Field(description="Folder to read, relative to the working directory or absolute.")
        pattern: str = Field("**/*.md", description="Glob of the files to read, relative to `path`.")
        encoding: str = "utf-8"
        max_files: int = Field(10_000, ge=1, description="Refuse to read more files than this.")

    def run(self) -> list[Document]:
        root = Path(self.params.path)
        if not root.is_dir():
            raise LoaderError(f"loader.text: folder '{root}' does not exist")
        files = sorted(p for p in root.glob(self.params.pattern) if p.is_file())
        if len(files) > self.params.max_files:
            raise LoaderError(f"loader.text: {len(files)} files match, more than max_files={self.params.max_files}")
        return [self._read(root, f) for f in files]

    def _read(self, root: Path, file: Path) -> Document:
        try:
            text = file.read_text(encoding=self.params.encoding)
        except UnicodeDecodeError as exc:
            raise LoaderError(f"loader.text: {file} is not {self.params.encoding} text: {exc.reason}") from None
        modified = datetime.fromtimestamp(file.stat().st_mtime, tz=UTC).isoformat()
        source = file.relative_to(root).as_posix()
        return Document.from_source(source, text, title=_title(text, file), modified=modified)


def _title(text: str, file: Path) -> str:
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return file.stem
