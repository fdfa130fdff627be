"""Loaders: read a folder of files into documents (markdown, text, reStructuredText, HTML, PDF)."""

from __future__ import annotations

import io
import itertools
import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field

from components.base import Component, ComponentParams, PermanentError
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


class LoaderError(PermanentError):
    """A loader cannot read its source at all (missing, or outside ``allowed_roots``); the message names it.
    Retrying cannot help, so the engine does not."""


class FileProblem(Exception):
    """One file cannot be loaded; the loader turns it into a document carrying the reason in ``meta.error``."""


# 10 MiB: the files rag-ingest reads from docs/ are under 2 kB and manuals as PDF a few MB, while chunking a 50 MB
# text took 114 s and peaked at 6 GB (issue 8): scaled, about 25 s and 1.2 GB at the limit, which a shared machine
# survives.
DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024


class FileLoaderParams(ComponentParams):
    path: str = Field(description="Folder to read, relative to the working directory or absolute.")
    pattern: str = Field("**/*", description="Glob of the files to read, relative to `path`.")
    encoding: str = "utf-8"
    max_files: int = Field(10_000, ge=1, description="Refuse to read more files than this.")
    max_file_bytes: int = Field(
        DEFAULT_MAX_FILE_BYTES, ge=1, description="A larger file is a problem (stopped or quarantined by on_fail)."
    )
    allowed_roots: list[str] = Field(
        ["."],
        min_length=1,
        description="Folders `path` must be under, relative to the project root (the working folder of a run).",
    )
    follow_links_out: bool = Field(
        False, description="Follow symlinks that leave `path` (never beyond `allowed_roots`)."
    )
    include_hidden: bool = Field(
        False,
        description="Read files in hidden folders (`.venv`, `.git`, `.dagwright`) and hidden files too; a `source` "
        "of `.` would otherwise ingest a virtualenv's documentation.",
    )


class FileLoader(Component[FileLoaderParams]):
    """Reads the files under a folder that match a glob, one document per file.

    Formats by extension: .md/.markdown, .txt, .rst, .html/.htm (text outside scripts and styles; h1-h6 become
    markdown headings) and .pdf (text of every page, with pypdf). Other files that match are skipped. Each
    document's meta carries `source` (the path relative to the folder), `title` (first heading, HTML title or PDF
    title, else the file name), `format`, `modified` (ISO time) and `heading_path` (empty: the whole file); its
    id hashes source and content. Files are read in sorted order.

    The folder must be under one of `allowed_roots` (default: the project root), since a run parameter can set
    it. A file that cannot be loaded (a symlink out of the folder, a fifo or device, larger than
    `max_file_bytes`, undecodable, a directory or a dangling link) becomes a document with empty text and the
    reason in `meta.error`; the `readable` check then stops the run or quarantines it, as `on_fail` says.

    Example:

    ```yaml
    uses: loader.files
    with:
      path: ${params.source}
      pattern: "**/*"
      max_file_bytes: 10485760
      allowed_roots: [docs]
    ```
    """

    name = "loader.files"
    # A loader's job is to notice that files changed, so its output is never served from cache.
    cacheable = False
    default_checks = {
        "outputs": {"output": ["readable", {"count": {"min": 1}}, {"text_length": {"min": 1}}, "unique_ids"]}
    }

    def run(self) -> list[Document]:
        root = self._root()
        pattern = self.params.pattern
        if ".." in Path(pattern).parts:  # glob follows '..' out of the folder
            raise LoaderError(f"loader.files: pattern '{pattern}' leaves the folder ('..'); name a folder in path")
        # Directories, links and special files that match stay in: each is reported, not silently skipped.
        files = sorted(p for p in root.glob(pattern) if p.suffix.lower() in FORMATS and self._visible(root, p))
        if len(files) > self.params.max_files:
            raise LoaderError(f"loader.files: {len(files)} files match, more than max_files={self.params.max_files}")
        return [self._load(root, f) for f in files]

    def _visible(self, root: Path, path: Path) -> bool:
        return self.params.include_hidden or not any(part.startswith(".") for part in path.relative_to(root).parts)

    def _allowed(self) -> list[Path]:
        return [Path(r).resolve() for r in self.params.allowed_roots]

    def _root(self) -> Path:
        given = Path(self.params.path)
        if not given.is_dir():
            where = "" if given.is_absolute() else f" (looked in {given.resolve()})"
            raise LoaderError(f"loader.files: folder '{given}' does not exist{where}")
        root = given.resolve()
        allowed = self._allowed()
        if not any(root.is_relative_to(a) for a in allowed):
            roots = ", ".join(map(str, allowed))
            where = f"'{given}'" if str(given) == str(root) else f"'{given}' ({root})"
            raise LoaderError(
                f"loader.files: folder {where} is outside allowed_roots [{roots}]; "
                "add its folder to the stage's allowed_roots to read it"
            )
        return root

    def _load(self, root: Path, file: Path) -> Document:
        source = file.relative_to(root).as_posix()
        kind = FORMATS[file.suffix.lower()]
        try:
            data, modified = self._bytes(root, file)
            text, title = _pdf(data) if kind == "pdf" else self._text(data, kind)
        except FileProblem as problem:
            return Document.from_source(source, "", title=file.name, format=kind, heading_path=[], error=str(problem))
        # heading_path is the root for a whole file; chunker.sections sets it per chunk.
        return Document.from_source(
            source, text, title=title or file.stem, format=kind, modified=modified, heading_path=[]
        )

    def _bytes(self, root: Path, file: Path) -> tuple[bytes, str]:
        """The file's bytes and modification time; a FileProblem for anything but a regular file inside bounds."""
        bounds = self._allowed() if self.params.follow_links_out else [root]
        try:
            if file.is_symlink() and not file.exists():
                raise FileProblem("dangling symlink")
            if not any(file.resolve(strict=True).is_relative_to(b) for b in bounds):
                raise FileProblem("symlink out of the source folder")
            _regular(os.stat(file).st_mode)  # refuse a fifo before open() could block on it
            fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop, on Python 3.11
            raise FileProblem(f"cannot open: {getattr(exc, 'strerror', None) or exc}") from None
        limit = self.params.max_file_bytes
        try:
            info = os.fstat(fd)
            _regular(info.st_mode)  # again on the open file: it may have been swapped since stat()
            # Read one byte past the limit: the file may have grown since fstat().
            data = b"" if info.st_size > limit else _read(fd, limit + 1)
        finally:
            os.close(fd)
        size = max(len(data), info.st_size)
        if size > limit:
            raise FileProblem(f"{size} bytes > max_file_bytes={limit}")
        return data, datetime.fromtimestamp(info.st_mtime, tz=UTC).isoformat()

    def _text(self, data: bytes, kind: str) -> tuple[str, str | None]:
        try:
            raw = data.decode(self.params.encoding)
        except UnicodeDecodeError as exc:
            raise FileProblem(f"not {self.params.encoding} text: {exc.reason}") from None
        if kind == "html":
            from components.htmltext import html_text  # html.parser: ~4 ms that validate need not pay

            return html_text(raw)
        return raw, _title(raw, kind)


def _read(fd: int, most: int) -> bytes:
    chunks, size = [], 0
    while size < most and (chunk := os.read(fd, min(1 << 20, most - size))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _regular(mode: int) -> None:
    """A FileProblem naming what the file is when it is not a regular file."""
    if stat.S_ISREG(mode):
        return
    kinds = {stat.S_ISDIR: "a directory", stat.S_ISFIFO: "a fifo", stat.S_ISSOCK: "a socket"}
    what = next((name for test, name in kinds.items() if test(mode)), "a device")
    raise FileProblem(f"is {what}, not a regular file")


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


def _pdf(data: bytes) -> tuple[str, str | None]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        text = "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
        title = reader.metadata.title if reader.metadata else None
    # pypdf raises many types on malformed input (PdfReadError, ValueError, KeyError, TypeError, ...): each is
    # this file's problem, not the run's.
    except Exception as exc:
        raise FileProblem(f"cannot read PDF: {exc}") from None
    return text.strip(), title
