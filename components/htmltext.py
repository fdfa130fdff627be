"""HTML to text for `loader.files`: visible text with headings kept as markdown headings, and the title.

Its own module so that importing the loaders (as `dagwright validate` does) does not import html.parser.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _HtmlText(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template"}
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: str | None = None
        self._stack: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._stack.append(tag)
        if tag in self._BLOCK:
            self.parts.append("\n")
        if re.fullmatch(r"h[1-6]", tag):
            # Headings become markdown headings, so chunker.sections splits HTML pages by section too.
            self.parts.append("#" * int(tag[1]) + " ")
        if tag in ("title", "h1") and self.title is None:
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "h1") and self._heading is not None:
            self.title = " ".join("".join(self._heading).split()) or None
            self._heading = None
        while self._stack and self._stack.pop() != tag:
            continue

    def handle_data(self, data: str) -> None:
        if any(t in self._SKIP for t in self._stack):
            return
        if self._heading is not None:
            self._heading.append(data)
        if "title" not in self._stack:
            self.parts.append(data)


def html_text(raw: str) -> tuple[str, str | None]:
    parser = _HtmlText()
    parser.feed(raw)
    parser.close()
    text = re.sub(r"[ \t]+", " ", "".join(parser.parts))
    return re.sub(r"\n\s*\n+", "\n\n", text).strip(), parser.title
