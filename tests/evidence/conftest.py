"""Fixtures for the evidence-report tests: the sample evidence, rendered once per module."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from pumpctl.proofs.evidence.render import render_html
from tests.evidence.sample import build

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# elements that separate words when rendered; inline ones (a, b, span) do not
BLOCKS = {"div", "p", "td", "th", "tr", "li", "ul", "ol", "h1", "h2", "h3", "h4", "br", "section", "header", "table",
          "dt", "dd", "figure", "figcaption", "pre", "text", "tspan", "title", "nav", "main", "style"}


class Page(HTMLParser):
    """A strict reading of the report: every non-void element closed in order, plus the
    attributes, section ids and text needed by the tests."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.ids: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self.text.append(" ")
        for k, v in attrs:
            self.attrs.append((tag, k, v or ""))
            if k == "id" and v:
                self.ids.append(v)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for k, v in attrs:
            self.attrs.append((tag, k, v or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCKS:
            self.text.append(" ")
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]} at {self.getpos()}")
            if tag in self.stack:
                while self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    p.close()
    return p


def words(html: str) -> str:
    """The rendered text of a fragment, whitespace collapsed."""
    return " ".join("".join(parse(html).text).split())


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, str]:
    """(evidence, output directory, report HTML) for the sample evidence."""
    out = tmp_path_factory.mktemp("evidence")
    evidence = build(out)
    path = render_html(evidence, out)
    return evidence, out, path.read_text(encoding="utf-8")
