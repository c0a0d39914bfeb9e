"""GitHub Markdown: maths as inline ``$`…`$`` and ```` ```math ```` blocks, pipe tables."""

from __future__ import annotations

from .formats import Format, register

__all__ = ["MARKDOWN"]


class Markdown(Format):
    name, extension = "markdown", ".md"

    def math(self, m, display=False):
        # GitHub's inline maths cannot wrap: no TeX break hints (\allowbreak, \*) here.
        return "$`" + m.latex(wrap=False).replace("|", r"\vert ") + "`$"

    def cell(self, c, table):
        return super().cell(c, table).replace("|", r"\|") if isinstance(c, str) else super().cell(c, table)

    def heading(self, b):
        return "#" * (b.level + 1) + " " + b.text

    def items(self, b):
        return "\n".join("- " + self.inline(parts) for parts in b.parts())

    def para(self, b):
        return self.inline(b.parts)

    def equations(self, b):
        lines = []
        for lhs, rhs in b.rows:
            rest = rhs.latex_lines()
            lines.append(f"{lhs.latex()} &= {rest[0]}")
            lines += [rf"&\quad {line}" for line in rest[1:]]
        return "```math\n\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}\n```"

    def table(self, b):
        from tabulate import tabulate  # here: a run that draws no table (--quiet, --format json) starts without it

        return tabulate([[self.cell(c, b) for c in row] for row in b.rows], [self.cell(h, b) for h in b.headers],
                        tablefmt="pipe", disable_numparse=True, colalign=b.alignment())

    def code(self, b):
        return "```text\n" + b.text + "\n```"

    def page(self, title, body):
        return f"# {title}\n\n{body}\n"


MARKDOWN = register(Markdown())
