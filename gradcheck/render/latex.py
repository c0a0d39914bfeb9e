"""LaTeX: a complete document for pdflatex, with booktabs tables and amsmath displays.

Any character outside ASCII in the text (σ, δ, ∂, →, ⋆, γ, …) is declared in the
preamble, so the document compiles with Debian's texlive and no Unicode engine.
"""

from __future__ import annotations

import textwrap
import unicodedata

from .formats import Format, register

__all__ = ["LATEX", "latex_escape"]

_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}

#: Characters that are not Greek letters, as maths.
_SYMBOLS = {"∂": r"\partial", "−": "-", "→": r"\to", "⊙": r"\odot", "·": r"\cdot", "‖": r"\|", "½": r"\tfrac12",
            "²": "^2", "′": "'", "∇": r"\nabla", "×": r"\times", "≤": r"\le", "≥": r"\ge", "ᵀ": r"^{\mathsf T}",
            "⋆": r"\star", "√": r"\surd", "≠": r"\ne", "…": r"\dots", "∑": r"\sum", "Σ": r"\Sigma", "≈": r"\approx",
            "∈": r"\in", "⌊": r"\lfloor", "⌋": r"\rfloor", "±": r"\pm", "∞": r"\infty", "⁻": "^-", "¹": "^1",
            "ε": r"\varepsilon", "∘": r"\circ"}
#: Characters of running text, as LaTeX's own text symbols (through amsmath's \text, so that they set the same in a
#: formula).
_TEXT_SYMBOLS = {"—": r"\textemdash", "–": r"\textendash", "°": r"\textdegree", "’": "'", "‘": "`"}

#: Characters of a code line on the landscape page (typewriter at 10pt); longer lines are wrapped.
CODE_WIDTH = 125

_PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[margin=2cm,landscape]{geometry}
\usepackage{booktabs,longtable,array,amsmath,amssymb}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\allowdisplaybreaks
"""


def latex_escape(text):
    r"""Plain text for LaTeX: its special characters escaped.

    >>> print(latex_escape("50% of W_0 & b"))
    50\% of W\_0 \& b
    """
    return "".join(_ESCAPES.get(c, c) for c in str(text))


def _unicode_macro(char):
    if char in _SYMBOLS:
        return _SYMBOLS[char]
    name = unicodedata.name(char, "")
    if name.startswith("GREEK SMALL LETTER "):
        return "\\" + name.rsplit(" ", 1)[1].lower().replace("lamda", "lambda")
    if name.startswith("GREEK CAPITAL LETTER "):
        return "\\" + name.rsplit(" ", 1)[1].title().replace("Lamda", "Lambda")
    return None


def _declarations(body):
    lines = []
    for char in sorted({c for c in body if ord(c) > 127}):
        macro = _unicode_macro(char)
        if macro is None and unicodedata.category(char).startswith("L") and ord(char) < 0x180:
            continue  # a Latin letter with an accent: inputenc knows it
        if char in _TEXT_SYMBOLS:
            text = r"\text{%s}" % _TEXT_SYMBOLS[char]
        else:
            text = r"\ensuremath{%s}" % macro if macro else r"\texttt{?}"
        lines.append(r"\DeclareUnicodeCharacter{%04X}{%s}" % (ord(char), text))
    return "\n".join(lines)


def _column(align, width):
    """A LaTeX column: l or r at its natural width, or a ragged-right paragraph ``width`` cm wide."""
    return ("r" if align == "right" else "l") if width is None else r">{\raggedright\arraybackslash}p{%gcm}" % width


class Latex(Format):
    name, extension = "latex", ".tex"
    separator = "\n\n\\clearpage\n\n"

    def escape(self, text):
        return latex_escape(text)

    def math(self, m, display=False):
        return f"${m.latex()}$"

    def value(self, text):
        return f"${text}$" if text[:1].isdigit() or text[:1] == "-" else latex_escape(text)

    def heading(self, b):
        return ("\\section*{" if b.level <= 1 else "\\subsection*{" if b.level == 2 else "\\subsubsection*{") \
            + latex_escape(b.text) + "}"

    def items(self, b):
        return "\\begin{itemize}\n" + "\n".join(r"\item " + self.inline(parts) for parts in b.parts()) \
            + "\n\\end{itemize}"

    def para(self, b):
        return self.inline(b.parts)

    def equations(self, b):
        lines = []
        for lhs, rhs in b.rows:
            rest = rhs.latex_lines(width=150)
            lines.append(f"{lhs.latex()} &= {rest[0]}")
            lines += [rf"&\quad {line}" for line in rest[1:]]
        return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"

    def table(self, b):
        colspec = "".join(_column(align, width)
                          for align, width in zip(b.alignment(), b.widths or [None] * len(b.headers)))
        head = " & ".join(self.cell(h, b) for h in b.headers) + r" \\"
        sep = r" \\\addlinespace[3pt]" if b.long else r" \\"  # air between rows that may hold several lines
        rows = [" & ".join(self.cell(c, b) for c in row) + sep for row in b.rows]
        if not b.long:
            lines = [r"\begin{center}", *([r"\small"] if b.small else []), r"\begin{tabular}{%s}" % colspec,
                     r"\toprule", head, r"\midrule", *rows, r"\bottomrule", r"\end{tabular}", r"\end{center}"]
            return "\n".join(lines)
        lines = [r"\begingroup", *([r"\footnotesize"] if b.small else []), r"\setlength{\tabcolsep}{4pt}",
                 r"\begin{longtable}{%s}" % colspec, r"\toprule", head, r"\midrule", r"\endfirsthead",
                 r"\toprule", head, r"\midrule", r"\endhead", r"\bottomrule", r"\endfoot", r"\endlastfoot",
                 *rows, r"\end{longtable}", r"\endgroup"]
        return "\n".join(lines)

    def code(self, b):
        # verbatim cannot break a line: long ones are wrapped here, the rest indented
        lines = [part for line in b.text.splitlines()
                 for part in (textwrap.wrap(line, CODE_WIDTH, subsequent_indent="    ", break_on_hyphens=False)
                              or [""])]
        return "\\begin{verbatim}\n" + "\n".join(lines) + "\n\\end{verbatim}"

    def page(self, title, body):
        body = "\\section*{" + latex_escape(title) + "}\n\n" + body
        return (_PREAMBLE + _declarations(body) + "\n\\begin{document}\n"
                "\\setlength{\\parindent}{0pt}\\setlength{\\parskip}{4pt plus 2pt}\n\n" + body + "\n\\end{document}\n")


LATEX = register(Latex())
