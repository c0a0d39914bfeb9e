"""The document model: a document is a title and a list of blocks, whatever the output format.

Content is built once as blocks (a shape trace, a check result, a derivation report) and
written by a format of :mod:`gradcheck.render.formats`. Blocks hold no markup: text is
plain, maths is a :class:`~gradcheck.render.mathprint.Math` (or any object with ``text()``,
``latex()`` and ``mathml()``), numbers in tables are :class:`Value` cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Document", "Heading", "Para", "Items", "Equations", "Table", "Value", "Code"]


@dataclass
class Heading:
    """A section title; level 1 is a document's part (a network), 2 a section, 3 a subsection."""

    text: str
    level: int = 2
    kind = "heading"


@dataclass
class Para:
    """Prose: plain strings and inline maths, in reading order."""

    parts: list
    kind = "para"

    def __post_init__(self):
        if isinstance(self.parts, str):
            self.parts = [self.parts]


@dataclass
class Items:
    """A list, one line per item; each item is a string or a list of strings and inline maths."""

    items: list
    kind = "items"

    def parts(self):
        return [[i] if isinstance(i, str) else list(i) for i in self.items]


@dataclass
class Equations:
    """Displayed equations ``lhs = rhs`` (pairs of maths), aligned at the equals sign."""

    rows: list
    kind = "equations"


@dataclass
class Table:
    """A table. Cells are str (plain text), maths or :class:`Value`.

    ``align``: "left"/"right" per column (default left); ``widths``: per column, the width
    in cm its text wraps within where a format lays out a page (LaTeX), or None for its
    natural width, where plain columns would run past the page; ``long``: may run over
    pages; ``small``: a smaller font where the format has one; ``display``: fractions in
    cells at full size.
    """

    headers: list
    rows: list
    align: list | None = None
    widths: list | None = None
    long: bool = False
    small: bool = False
    display: bool = False
    kind = "table"

    def alignment(self):
        return self.align or ["left"] * len(self.headers)


@dataclass(frozen=True)
class Value:
    """A number in a table cell, already formatted (``"0.0228973"``, ``"< 1e-07"``, ``"NaN"``)."""

    text: str

    def __str__(self):
        return self.text


@dataclass
class Code:
    """Preformatted text (equations with shapes), shown as it is."""

    text: str
    kind = "code"


@dataclass
class Document:
    """A title and its blocks; ``render(doc, fmt)`` writes it (see :mod:`gradcheck.render.formats`)."""

    title: str
    blocks: list = field(default_factory=list)

    def __iadd__(self, blocks):
        self.blocks += list(blocks)
        return self
