"""Loaders (md, txt, rst, html, pdf) and chunkers (token windows, sections) on real files and the real tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.chunkers import SectionChunker, TokenChunker, sections, token_spans
from components.documents import Document
from components.loaders import FileLoader, LoaderError
from tests.helpers.pdf import write_pdf

# loader.files reads only under the project root (the working folder of a run); these tests load from tmp_path.
pytestmark = pytest.mark.usefixtures("project_in_tmp_path")

MARKDOWN = """# Guide

Intro text.

## Install

Run the installer.

```
# not a heading inside a fence
```

### Offline

Use the wheel.

## Use

Call it.
"""

RST = """Manual
======

Opening words.

Setup
-----

Install it.

Details
~~~~~~~

Fine print.

Usage
-----

Run it.
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "guide.md").write_text(MARKDOWN)
    (root / "manual.rst").write_text(RST)
    (root / "notes.txt").write_text("plain words\nsecond line\n")
    (root / "sub" / "page.html").write_text(
        "<html><head><title>Page T</title><script>var x = 1;</script></head>"
        "<body><h1>Heading</h1><p>First &amp; second.</p><style>p {}</style></body></html>"
    )
    write_pdf(root / "sub" / "paper.pdf", ["Portable documents hold text.", "A second line."], "Paper Title")
    (root / "image.png").write_bytes(b"\x89PNG")
    return root


def test_loader_reads_every_supported_format_with_metadata(folder: Path) -> None:
    docs = FileLoader(FileLoader.Params(path=str(folder))).run()
    by_source = {d.meta["source"]: d for d in docs}
    assert sorted(by_source) == ["guide.md", "manual.rst", "notes.txt", "sub/page.html", "sub/paper.pdf"]
    titles = {s: d.meta["title"] for s, d in by_source.items()}
    assert titles == {
        "guide.md": "Guide",
        "manual.rst": "Manual",
        "notes.txt": "notes",
        "sub/page.html": "Page T",
        "sub/paper.pdf": "Paper Title",
    }
    html = by_source["sub/page.html"].content
    assert "First & second." in html and "var x" not in html and "p {}" not in html
    assert "Portable documents hold text." in by_source["sub/paper.pdf"].content
    assert all(d.meta["modified"] and d.meta["format"] and d.meta["heading_path"] == [] for d in docs)


def test_document_id_hashes_source_and_content(folder: Path) -> None:
    loader = FileLoader(FileLoader.Params(path=str(folder), pattern="*.md"))
    first = loader.run()[0]
    assert loader.run()[0].id == first.id
    (folder / "guide.md").write_text(MARKDOWN + "\nMore.\n")
    assert loader.run()[0].id != first.id


def test_a_missing_folder_is_a_clear_error_and_a_bad_encoding_names_the_file(folder: Path) -> None:
    with pytest.raises(LoaderError, match="folder '/nope' does not exist"):
        FileLoader(FileLoader.Params(path="/nope")).run()
    (folder / "bad.txt").write_bytes(b"\xff\xfe\x00bad")
    [bad] = [d for d in FileLoader(FileLoader.Params(path=str(folder))).run() if d.meta["source"] == "bad.txt"]
    assert (bad.content, bad.meta["error"]) == ("", "not utf-8 text: invalid start byte")


def test_markdown_sections_keep_heading_paths_and_ignore_fenced_hashes() -> None:
    found = sections(MARKDOWN, "guide.md")
    assert [s.heading_path for s in found] == [
        ["Guide"],
        ["Guide", "Install"],
        ["Guide", "Install", "Offline"],
        ["Guide", "Use"],
    ]
    assert "# not a heading inside a fence" in found[1].text


def test_rst_sections_follow_underline_levels() -> None:
    found = sections(RST, "manual.rst")
    assert [s.heading_path for s in found] == [
        ["Manual"],
        ["Manual", "Setup"],
        ["Manual", "Setup", "Details"],
        ["Manual", "Usage"],
    ]


def test_token_chunks_respect_size_and_overlap_in_minilm_tokens() -> None:
    text = " ".join(f"word{i} alpha beta" for i in range(300))
    doc = Document.from_source("long.txt", text)
    chunks = TokenChunker(TokenChunker.Params(chunk_size=100, overlap=20)).run([doc])
    sizes = [len(token_spans(c.content, "minilm")) for c in chunks]
    assert max(sizes) <= 100 and len(chunks) > 5
    first, second = (token_spans(c.content, "minilm") for c in chunks[:2])
    shared = chunks[0].content[first[80][0] :]
    assert chunks[1].content.startswith(shared)  # the last 20 tokens of one chunk open the next
    assert len({c.id for c in chunks}) == len(chunks)
    assert all(c.meta["doc_id"] == doc.id and c.meta["source"] == "long.txt" for c in chunks)
    assert len(second) <= 100


def test_section_chunker_windows_long_sections_and_adds_source_header() -> None:
    long_section = "# Big\n\n" + "lorem ipsum dolor " * 200 + "\n\n## Small\n\nshort text\n"
    doc = Document.from_source("big.md", long_section)
    chunks = SectionChunker(SectionChunker.Params(chunk_size=64, overlap=8, source_header=True)).run([doc])
    assert chunks[-1].meta["heading_path"] == ["Big", "Small"]
    assert chunks[-1].content.startswith("SOURCE: big.md > Big > Small\n")
    assert len([c for c in chunks if c.meta["heading_path"] == ["Big"]]) > 3
    assert [c.meta["chunk"] for c in chunks] == list(range(len(chunks)))


def test_overlap_must_be_smaller_than_chunk_size() -> None:
    with pytest.raises(ValueError, match=r"overlap \(64\) must be smaller than chunk_size \(64\)"):
        TokenChunker.Params(chunk_size=64, overlap=64)


def test_plan_caps_chunk_size_at_the_embedders_window(plan_of) -> None:
    plan = plan_of("""
        resources:
          minilm: {uses: embedding.onnx}
        pipelines:
          p:
            stages:
              load: {uses: loader.files, with: {path: docs}}
              chunk:
                uses: chunker.tokens
                with: {chunk_size: 400, overlap: 64}
                inputs: {documents: load.output}
              embed: {uses: embedder.documents, inputs: {documents: chunk.output}}
        """)
    assert plan.stage("chunk").with_ == {"chunk_size": 254, "overlap": 64}
    [note] = plan.notes
    assert str(note).endswith(
        "pipelines.p.stages.chunk.with: chunk_size 400 exceeds the 256-token window of embedder.documents; chunks are "
        "capped at 254 tokens (the window less [CLS] and [SEP])"
    )


def test_the_minilm_tokenizer_file_and_library_are_part_of_a_token_chunkers_cache_key(tmp_path: Path) -> None:
    from components.models import minilm_tokenizer_file

    assert TokenChunker.referenced_files(TokenChunker.Params(), tmp_path) == [minilm_tokenizer_file()]
    assert TokenChunker.referenced_files(TokenChunker.Params(tokenizer="words"), tmp_path) == []
    assert TokenChunker.libraries == ("tokenizers",)


def test_hidden_folders_and_files_are_not_read_unless_asked(tmp_path: Path) -> None:
    # A new user's `source=.` walked into .venv: 845 files of site-packages documentation.
    (tmp_path / ".venv" / "lib").mkdir(parents=True)
    (tmp_path / ".venv" / "lib" / "README.md").write_text("# Not yours\n\nA library's docs.\n")
    (tmp_path / ".notes.md").write_text("# Hidden\n\nA dotfile.\n")
    (tmp_path / "guide.md").write_text("# Guide\n\nYours.\n")
    params = {"path": str(tmp_path), "allowed_roots": [str(tmp_path)]}
    assert [d.meta["source"] for d in FileLoader(FileLoader.Params(**params)).run()] == ["guide.md"]
    every = FileLoader(FileLoader.Params(**params, include_hidden=True)).run()
    assert sorted(d.meta["source"] for d in every) == [".notes.md", ".venv/lib/README.md", "guide.md"]
