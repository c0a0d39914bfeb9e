"""Report documents as blocks (heading, paragraph, equations, table, code) rendered per format.

Markdown uses GitHub's maths (inline ``$`…`$``, ```` ```math ```` blocks), HTML uses
MathML with inline CSS only, LaTeX uses booktabs tables; see :mod:`gradcheck.mathprint`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .mathprint import EQ, Math
from .report import FORMATS, _latex_escape, booktabs

__all__ = ["Heading", "Para", "Equations", "Table", "Value", "Code", "Raw", "render_blocks"]


# -- document blocks and their rendering --------------------------------------------------

@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    """Prose: a list of plain strings and inline :class:`Math`."""

    parts: list


@dataclass
class Equations:
    """Displayed equations ``lhs = rhs``, aligned at the equals sign."""

    rows: list


@dataclass
class Table:
    """Cells are str (plain text), :class:`Math` or :class:`Value`; ``colspec`` is the LaTeX column spec."""

    headers: list
    rows: list
    align: list
    colspec: str
    long: bool = False
    small: bool = False
    display: bool = False  # HTML: fractions in the cells at full size


@dataclass(frozen=True)
class Value:
    """A number shown in a table cell (already formatted)."""

    text: str


@dataclass
class Code:
    """Preformatted text (equations with shapes)."""

    text: str


@dataclass
class Raw:
    """Text already rendered in the document's format."""

    text: str


def _md_math(m):
    # GitHub's inline maths cannot wrap: no TeX break hints (\allowbreak, \*) in Markdown.
    return "$`" + Math(*m.parts).latex().replace("|", r"\vert ") + "`$"


def _md_cell(c):
    if isinstance(c, Math):
        return _md_math(c)
    if isinstance(c, Value):
        return c.text
    return str(c).replace("|", r"\|")


def _html_cell(c, display=False):
    if isinstance(c, Math):
        if c.wrap:
            return f'<span class="wrap{" wide" if c.wrap == "wide" else ""}">{c.mathml(display)}</span>'
        return c.mathml(display)
    if isinstance(c, Value):
        return '<span class="num">' + FORMATS["html"].escape(c.text).replace("-", "−") + "</span>"
    return FORMATS["html"].escape(str(c))


def _tex_cell(c):
    if isinstance(c, Math):
        return f"${c.latex()}$"
    if isinstance(c, Value):
        return f"${c.text}$" if c.text[:1].isdigit() or c.text[:1] == "-" else _latex_escape(c.text)
    return _latex_escape(str(c))


def _render_block(b, fmt):
    f = FORMATS[fmt]
    if isinstance(b, Raw):
        return b.text
    if isinstance(b, Code):
        return f.code(b.text)
    if isinstance(b, Heading):
        return f.heading(b.text, b.level)
    if isinstance(b, Para):
        if fmt == "markdown":
            return "".join(p if isinstance(p, str) else _md_math(p) for p in b.parts)
        if fmt == "html":
            return "<p>" + "".join(f.escape(p) if isinstance(p, str) else p.mathml() for p in b.parts) + "</p>"
        return "".join(_latex_escape(p) if isinstance(p, str) else f"${p.latex()}$" for p in b.parts) + "\n"
    if isinstance(b, Equations):
        if fmt == "markdown":
            lines = []
            for lhs, rhs in b.rows:
                rest = rhs.latex_lines()
                if len(rest) == 1:
                    rest = [rhs.latex()]
                lines.append(f"{lhs.latex()} &= {rest[0]}")
                lines += [rf"&\quad {line}" for line in rest[1:]]
            return "```math\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n```"
        if fmt == "html":
            rows = "\n".join(f'<tr><td class="lhs">{lhs.mathml(True)}</td><td>{Math(EQ).mathml(True)}</td>'
                             f'<td class="rhs">{Math(*rhs.parts, wrap=True).mathml(True)}</td></tr>'
                             for lhs, rhs in b.rows)
            return f'<table class="eqs">\n{rows}\n</table>'
        lines = []
        for lhs, rhs in b.rows:
            rest = rhs.latex_lines(width=150)
            if len(rest) == 1:
                rest = [rhs.latex()]
            lines.append(f"{lhs.latex()} &= {rest[0]}")
            lines += [rf"&\quad {line}" for line in rest[1:]]
        return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"
    if isinstance(b, Table):
        if fmt == "markdown":
            return f.table([[_md_cell(c) for c in r] for r in b.rows], [_md_cell(h) for h in b.headers],
                           disable_numparse=True, colalign=b.align)
        if fmt == "html":
            return f.table([[_html_cell(c, b.display) for c in r] for r in b.rows], [_html_cell(h) for h in b.headers],
                           raw=True, disable_numparse=True, colalign=b.align)
        text = f.table([[_tex_cell(c) for c in r] for r in b.rows], [_tex_cell(h) for h in b.headers],
                       raw=True, disable_numparse=True)
        text = booktabs(text, colspec=b.colspec, long=b.long)
        if b.long:  # air between the rows: some cells hold several lines
            head, sep, body = text.partition("\\endlastfoot\n")
            body = "\n".join(line + r"\addlinespace[3pt]" if line.endswith("\\\\") else line
                              for line in body.splitlines())
            text = head + sep + body
            size = "\\footnotesize\n" if b.small else ""
            return "\\begingroup\n" + size + "\\setlength{\\tabcolsep}{4pt}\n" + text + "\n\\endgroup"
        return "\\begin{center}\n" + ("\\small\n" if b.small else "") + text + "\n\\end{center}"
    raise TypeError(f"unknown block {b!r}")


_HTML_CSS = """<style>
table.eqs{border-collapse:collapse;margin:.5rem 0 1rem}table.eqs td{border:0;padding:.15rem .3rem;
vertical-align:middle}table.eqs td.lhs{text-align:right;white-space:nowrap}
.wrap{display:inline;line-height:2}td .wide{display:block;min-width:30rem;max-width:40rem}
table.eqs td.rhs{max-width:60rem}.num{white-space:nowrap}
math{font-size:1.15em;font-family:"Latin Modern Math","STIX Two Math","Cambria Math",math}
</style>
</head>"""


def render_blocks(blocks, title, fmt):
    f = FORMATS[fmt]
    body = "\n\n".join(_render_block(b, fmt) for b in blocks)
    if fmt == "latex":
        body = "\\setlength{\\parindent}{0pt}\\setlength{\\parskip}{4pt plus 2pt}\n\n" + body
    page = f.page(title, body)
    if fmt == "html":
        page = page.replace("</head>", _HTML_CSS, 1)
    if not page.endswith("\n"):
        page += "\n"
    return page


