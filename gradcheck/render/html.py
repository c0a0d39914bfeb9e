"""Standalone HTML: presentation MathML (renders offline: no script, no font, no URL), inline CSS only."""

from __future__ import annotations

import html

from .formats import Format, register
from .picture import svg

__all__ = ["HTML"]

_CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:72rem;margin:2rem auto;
padding:0 1rem;color:#1d1f21;line-height:1.45;overflow-wrap:break-word}table{border-collapse:collapse;
margin:.6rem 0 1.2rem}th,td{border-bottom:1px solid #d0d4d9;padding:.25rem .7rem;text-align:left;
vertical-align:top}th{border-bottom:2px solid #555;background:#f4f6f8}td.r,th.r{text-align:right}
pre{background:#f4f6f8;padding:.7rem;overflow-x:auto}.num{white-space:nowrap;font-variant-numeric:tabular-nums}
table.eqs{margin:.5rem 0 1rem}table.eqs td{border:0;padding:.15rem .3rem;vertical-align:middle}
table.eqs td.lhs{text-align:right;white-space:nowrap}.wrap{display:inline;line-height:2}table.small{font-size:.85em}
math{font-size:1.15em;font-family:"Latin Modern Math","STIX Two Math","Cambria Math",math}"""


_EQ = '<math xmlns="http://www.w3.org/1998/Math/MathML" displaystyle="true"><mrow><mo>=</mo></mrow></math>'


#: The same rules, scoped to a notebook cell's <div class="gradcheck"> (the class twice: they must win over
#: the notebook's own table rules).
_CELL_CSS = "\n".join("div.gradcheck.gradcheck " + rule for rule in (
    "table{border-collapse:collapse;margin:.4rem 0 .8rem}",
    "table th,div.gradcheck.gradcheck table td{border-bottom:1px solid #d0d4d9;padding:.2rem .6rem;"
    "text-align:left;vertical-align:top}",
    "table th{border-bottom:2px solid #555}",
    "table td.r,div.gradcheck.gradcheck table th.r{text-align:right}",
    ".num{white-space:nowrap;font-variant-numeric:tabular-nums}",
    "table.eqs td{border:0;padding:.1rem .3rem;vertical-align:middle}",
    "table.eqs td.lhs{text-align:right;white-space:nowrap}",
    "pre{padding:.5rem;overflow-x:auto}"))


class Html(Format):
    name, extension = "html", ".html"
    separator = "\n<hr>\n"

    def escape(self, text):
        return html.escape(str(text))

    def math(self, m, display=False):
        return m.mathml(display)

    def cell(self, c, table):
        if hasattr(c, "mathml") and getattr(c, "wrap", False):
            return f'<span class="wrap">{c.mathml(table.display)}</span>'
        return super().cell(c, table)

    def value(self, text):
        return '<span class="num">' + self.escape(text).replace("-", "−") + "</span>"

    def heading(self, b):
        return f"<h{b.level + 1}>{self.escape(b.text)}</h{b.level + 1}>"

    def items(self, b):
        return "<ul>\n" + "\n".join(f"<li>{self.inline(parts)}</li>" for parts in b.parts()) + "\n</ul>"

    def para(self, b):
        return "<p>" + self.inline(b.parts) + "</p>"

    def equations(self, b):
        rows = "\n".join(f'<tr><td class="lhs">{lhs.mathml(True)}</td><td>{_EQ}</td>'
                         f'<td class="rhs">{rhs.wrapped().mathml(True)}</td></tr>' for lhs, rhs in b.rows)
        return f'<table class="eqs">\n{rows}\n</table>'

    def table(self, b):
        cls = ['' if a == "left" else ' class="r"' for a in b.alignment()]
        head = "".join(f"<th{k}>{self.cell(h, b)}</th>" for k, h in zip(cls, b.headers))
        body = "\n".join("<tr>" + "".join(f"<td{k}>{self.cell(c, b)}</td>" for k, c in zip(cls, row)) + "</tr>"
                         for row in b.rows)
        opening = '<table class="small">' if b.small else "<table>"
        return f'{opening}\n<thead>\n<tr>{head}</tr>\n</thead>\n<tbody>\n{body}\n</tbody>\n</table>'

    def code(self, b):
        return f"<pre>{self.escape(b.text)}</pre>"

    def picture(self, b):
        return svg(b)

    def page(self, title, body):
        return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                f"<title>{self.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
                f"<body>\n<h1>{self.escape(title)}</h1>\n{body}\n</body>\n</html>\n")

    def fragment(self, blocks):
        """HTML without a page around it (a notebook cell)."""
        return f'<div class="gradcheck">\n<style>{_CELL_CSS}</style>\n' + self.body(blocks) + "\n</div>"


HTML = register(Html())
