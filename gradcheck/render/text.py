"""Plain text, for a terminal: underlined headings, tabulate's "simple" tables, indented code."""

from __future__ import annotations

from .formats import Format, register

__all__ = ["TEXT"]


class Text(Format):
    name, extension = "text", ".txt"
    separator = "\n\n" + "-" * 78 + "\n\n"

    def heading(self, b):
        return f"{b.text}\n{('=' if b.level <= 1 else '-') * min(len(b.text), 100)}"

    def items(self, b):
        return "\n".join(self.inline(parts) for parts in b.parts())

    def para(self, b):
        return self.inline(b.parts)

    def equations(self, b):
        return "\n".join("    " + f"{lhs.text()} = {rhs.text()}" for lhs, rhs in b.rows)

    def table(self, b):
        from tabulate import tabulate  # here: a run that draws no table (--quiet, --format json) starts without it

        return tabulate([[self.cell(c, b) for c in row] for row in b.rows], [self.cell(h, b) for h in b.headers],
                        tablefmt="simple", disable_numparse=True, colalign=b.alignment())

    def code(self, b):
        return "\n".join("    " + line for line in b.text.splitlines())


TEXT = register(Text())
