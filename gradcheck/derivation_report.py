"""Derivation reports: one document per network, from the local fact to every gradient element.

A report walks a reader (a teacher preparing worked derivations, a learner checking one
by hand) through one network:

1. the network: its description, the net.json keys, the parameter and data values;
2. the shape trace (:func:`gradcheck.report.render_trace`);
3. the local fact SymPy derives, ∂z_i/∂w_jk = [i=j]·x_k, and its chain-rule consequence
   ∂C/∂w_jk = Σ_i δ_i [i=j] x_k = δ_j x_k (:func:`gradcheck.symbolic.local_fact`);
4. the forward equations, the cost, and the δ's: chain rule, SymPy's factors, the result;
5. one row per parameter element: chain-rule form, expanded form, and the three values
   (SymPy, reference backprop, finite differences) with their agreement;
6. the check summary (:func:`gradcheck.report.render_check`).

Formats: Markdown (maths as GitHub's inline ``$`…`$`` and ```` ```math ```` blocks),
standalone HTML (SymPy's presentation MathML: renders offline, no script, no font, no
URL fetched), LaTeX (a full booktabs document for pdflatex) and JSON. Reports hold no
timestamp, timing or machine path, so regenerating them gives the same bytes::

    python -m gradcheck derivations/*.json --report reports --quiet   # the CLI
    python -m gradcheck.derivation_report                             # the same, for derivations/ -> reports/
    python -m gradcheck.derivation_report --check                     # CI: exit 1 if reports/ is stale
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.mathml import MathMLPresentationPrinter
from sympy.printing.str import StrPrinter

from .compare import BANDS, errors
from .errors import GradcheckError
from .report import FORMATS, _latex_escape, booktabs, render_check, render_trace, result_json
from .spec import load_spec

__all__ = ["REPORT_FORMATS", "EXTENSIONS", "build_report", "report_json", "report_paths", "write_reports",
           "generate", "compare_dirs", "main"]

#: The formats a report is written in, and their file extensions.
EXTENSIONS = {"markdown": ".md", "html": ".html", "latex": ".tex", "json": ".json"}
REPORT_FORMATS = tuple(EXTENSIONS)

MATHML_NS = "http://www.w3.org/1998/Math/MathML"  # a namespace name, never fetched
#: Expressions longer than this (characters of their plain-text form) are cut into pieces
#: between which a line may break (table cells), or into lines of about LINE characters (displays).
PIECE = 34
LINE = 78
MIN_CHUNK = 16
#: Number tables (parameters, data) show at most this many value columns; wider ones are split.
GRID_COLUMNS = 8
VALUE_FMT = ".6g"


# -- maths objects the printers know ---------------------------------------------------

class Partial(sp.Expr):
    """∂num/∂den written as a fraction; never evaluated."""

    is_commutative = True

    def _sympystr(self, printer):
        return f"d{printer._print(self.args[0])}/d{printer._print(self.args[1])}"

    def _latex(self, printer):
        return r"\frac{\partial %s}{\partial %s}" % (printer._print(self.args[0]), printer._print(self.args[1]))


class Prime(sp.Expr):
    """f'(z) for the activation named ``args[0]`` (a Symbol), applied to ``args[1]``."""

    is_commutative = True

    def _sympystr(self, printer):
        return f"{_head_text(str(self.args[0]))}'({printer._print(self.args[1])})"

    def _latex(self, printer):
        return r"%s'\left(%s\right)" % (_head_latex(str(self.args[0])), printer._print(self.args[1]))


def _head_latex(name):
    if name in ("sigmoid", "σ"):
        return r"\sigma"
    if name in ("tanh", "log", "exp", "sin", "cos"):
        return "\\" + name
    return r"\operatorname{%s}" % _latex_escape(name)


def _head_text(name):
    return "σ" if name == "sigmoid" else name


def _head_mathml(name):
    return f"<mi>{_head_text(name)}</mi>"


class _Str(StrPrinter):
    def _print_KroneckerDelta(self, e):  # noqa: N802 - SymPy's printer method names
        return f"[{self._print(e.args[0])} = {self._print(e.args[1])}]"

    def _print_Indexed(self, e):  # noqa: N802 - SymPy's printer method names
        return f"{self._print(e.base)}_{','.join(self._print(i) for i in e.indices)}"


class _Latex(LatexPrinter):
    def _print_KroneckerDelta(self, e, exp=None):  # noqa: N802 - SymPy's printer method names
        out = rf"\left[{self._print(e.args[0])} = {self._print(e.args[1])}\right]"
        return f"{out}^{{{exp}}}" if exp else out


class _MathML(MathMLPresentationPrinter):
    """Presentation MathML with the report's notation: w^{(0)}_{1,2}, σ(z), softmax_i(…), [i = j], ∂C/∂θ."""

    def _el(self, tag, *children, text=None):
        el = self.dom.createElement(tag)
        if text is not None:
            el.appendChild(self.dom.createTextNode(text))
        for c in children:
            el.appendChild(c)
        return el

    def _row(self, *children):
        return self._el("mrow", *children)

    def _paren(self, *items):
        inner = []
        for n, item in enumerate(items):
            if n:
                inner.append(self._el("mo", text=","))
            inner.append(self._print(item))
        return self._row(self._el("mo", text="("), self._row(*inner), self._el("mo", text=")"))

    def _fence(self, char):
        mo = self._el("mo", text=char)
        mo.setAttribute("lspace", "0")
        mo.setAttribute("rspace", "0")
        mo.setAttribute("stretchy", "false")
        return mo

    def _index(self, parts):
        out = []
        for n, p in enumerate(parts):
            if n:
                out.append(self._el("mo", text=","))
            out.append(self._el("mn" if str(p).isdigit() else "mi", text=str(p)))
        return out[0] if len(out) == 1 else self._row(*out)

    def _print_NetSymbol(self, sym, style="plain"):  # noqa: N802 - SymPy's printer method names
        letter, layer, idx = sym._parts()
        base = self._el("mi", text="δ" if letter == "delta" else letter)
        sub = self._index(idx)
        if not layer:
            return self._el("msub", base, sub)
        sup = self._row(self._fence("("), self._el("mn", text=layer), self._fence(")"))
        return self._el("msubsup", base, sub, sup)

    def _print_Indexed(self, e):  # noqa: N802 - SymPy's printer method names
        return self._el("msub", self._print(e.base), self._index([self._print_str(i) for i in e.indices]))

    def _print_str(self, e):
        return _Str().doprint(e)

    def _func(self, name, *args):
        return self._row(self._el("mi", text=_head_text(name)), self._paren(*args))

    def _print_sigmoid(self, e):
        return self._func("sigmoid", *e.args)

    def _print_relu(self, e):
        return self._func("relu", *e.args)

    def _print_leaky_relu(self, e):
        return self._func("leaky_relu", *e.args)

    def _print_softplus(self, e):
        return self._func("softplus", *e.args)

    def _print_softmax(self, e):
        head = self._el("msub", self._el("mi", text="softmax"), self._el("mn", text=str(e.args[0])))
        return self._row(head, self._paren(*e.args[1:]))

    def _print_KroneckerDelta(self, e):  # noqa: N802 - SymPy's printer method names
        return self._row(self._el("mo", text="["), self._print(e.args[0]), self._el("mo", text="="),
                         self._print(e.args[1]), self._el("mo", text="]"))

    def _print_Partial(self, e):  # noqa: N802 - SymPy's printer method names
        num = self._row(self._el("mo", text="∂"), self._print(e.args[0]))
        den = self._row(self._el("mo", text="∂"), self._print(e.args[1]))
        return self._el("mfrac", num, den)

    def _print_Prime(self, e):  # noqa: N802 - SymPy's printer method names
        name = str(e.args[0])
        return self._row(self._el("mi", text=_head_text(name)), self._el("mo", text="′"), self._paren(e.args[1]))


def _text(e):
    return _Str().doprint(e)


def _latex(e):
    return _Latex().doprint(e)


def _mathml(e):
    return _MathML().doprint(e)


# -- a formula: SymPy expressions and tokens, with places where a line may break ---------

@dataclass(frozen=True)
class Tok:
    """A token between expressions: its LaTeX, MathML and text; ``brk``: a line may break before it."""

    latex: str
    mathml: str
    text: str
    brk: bool = False


EQ = Tok("=", "<mo>=</mo>", " = ")
DOT = Tok(r"\cdot", "<mo>·</mo>", " · ")
PLUS = Tok("+", "<mo>+</mo>", " + ", brk=True)
MINUS = Tok("-", "<mo>−</mo>", " - ", brk=True)
NEG = Tok("-", "<mo>−</mo>", "-")
LP = Tok("(", "<mo>(</mo>", "(")
RP = Tok(")", "<mo>)</mo>", ")")
COMMA = Tok(",", "<mo>,</mo>", ", ")
SLASH = Tok("/", "<mo>/</mo>", "/", brk=True)
TIMES = Tok(r"\*", "", "*", brk=True)  # a product of long factors: \* is TeX's discretionary ×
BREAK = Tok("", "", "", brk=True)  # after a comma


def _head_tok(fn):
    name = type(fn).__name__
    if name == "softmax":
        i = fn.args[0]
        return Tok(r"\operatorname{softmax}_{%s}" % i, f"<msub><mi>softmax</mi><mn>{i}</mn></msub>",
                   f"softmax_{i}")
    return Tok(_head_latex(name), _head_mathml(name), _head_text(name))


def _split(e, budget=PIECE):
    """Cut ``e`` into expressions of at most ``budget`` characters and tokens, top level first."""
    if len(_text(e)) <= budget:
        return [e]
    if e.is_Add:
        out = []
        for n, term in enumerate(e.as_ordered_terms()):
            neg = term.could_extract_minus_sign()
            if n:
                out.append(MINUS if neg else PLUS)
            elif neg:
                out.append(NEG)
            out += _split(-term if neg else term, budget)
        return out
    if e.is_Mul:
        if e.could_extract_minus_sign():
            return [NEG, *_split(-e, budget)]
        num, den = sp.fraction(e, exact=True)
        coeff, rest = num.as_coeff_Mul()
        factors = list(rest.as_ordered_factors()) if rest.is_Mul else [rest]
        out = []
        if den != 1 and len(_text(den)) > budget:
            return [*_group(num, budget), SLASH, *_group(den, budget)]
        if den != 1 or coeff != 1:
            out.append(coeff / den)
        for f in factors:
            if out:
                out.append(TIMES)
            out += [LP, *_split(f, budget), RP] if f.is_Add else _split(f, budget)
        return out
    if isinstance(e, sp.Tuple):
        out = [LP]
        for n, a in enumerate(e.args):
            if n:
                out += [COMMA, BREAK]
            out += _split(a, budget)
        return [*out, RP]
    if isinstance(e, sp.Function) and e.args:
        args = e.args[1:] if type(e).__name__ == "softmax" else e.args
        out = [_head_tok(e), LP]
        for n, a in enumerate(args):
            if n:
                out += [COMMA, BREAK]
            out += _split(a, budget)
        return [*out, RP]
    if e.is_Pow and e.exp.is_Integer and e.exp > 0 and (e.base.is_Add or isinstance(e.base, sp.Function)):
        exp = int(e.exp)
        close = Tok(r")^{%d}" % exp, f"<msup><mo>)</mo><mn>{exp}</mn></msup>", f")**{exp}")
        if e.base.is_Add:
            return [LP, *_split(e.base, budget), close]
        base = _split(e.base, budget)
        if len(base) > 1 and base[-1] is RP:
            return [*base[:-1], close]
    return [e]


def _group(e, budget):
    """``_split(e)``, in parentheses unless ``e`` is a single factor (a symbol, a function, a power)."""
    parts = _split(e, budget)
    atomic = not (e.is_Add or e.is_Mul or e.could_extract_minus_sign()) or (e.is_Mul and len(parts) == 1)
    return parts if atomic else [LP, *parts, RP]


class Math:
    """A formula: a list of SymPy expressions and :class:`Tok` tokens, in reading order."""

    def __init__(self, *parts, wrap=False):
        self.parts = []
        for p in parts:
            if isinstance(p, Math):
                self.parts += p.parts
            elif isinstance(p, Tok):
                self.parts.append(p)
            else:
                self.parts.append(sp.sympify(p))
        self.wrap = wrap

    def _pieces(self):
        if not self.wrap:
            return self.parts
        return [q for p in self.parts for q in ([p] if isinstance(p, Tok) else _split(p))]

    def text(self):
        return "".join(p.text if isinstance(p, Tok) else _text(p) for p in self.parts)

    def latex(self):
        """One LaTeX string; with ``wrap``, TeX may break the line between the pieces."""
        out = []
        for p in self._pieces():
            s = p.latex if isinstance(p, Tok) else _latex(p)
            if self.wrap and p is BREAK:
                s = r"\allowbreak"
            elif not self.wrap and p in (LP, RP):
                s = r"\left(" if p is LP else r"\right)"
            out.append(s)
        return " ".join(s for s in out if s).replace("( ", "(").replace(" )", ")")

    def latex_lines(self, width=LINE):
        """LaTeX lines (for ``aligned``) of about ``width`` characters of text, broken where allowed."""
        lines, cur, size = [], [], 0
        for p in [q for part in self.parts for q in ([part] if isinstance(part, Tok) else _split(part))]:
            if isinstance(p, Tok) and p.brk and size > width:
                lines.append(cur)
                cur, size = [r"\cdot" if p is TIMES else ""], 0
            s = (p.latex if p is not TIMES else "") if isinstance(p, Tok) else _latex(p)
            cur.append(s)
            size += len(p.text if isinstance(p, Tok) else _text(p))
        lines.append(cur)
        return [" ".join(s for s in line if s).replace("( ", "(").replace(" )", ")") for line in lines]

    def mathml(self, display=False):
        """``<math>`` elements: one, or (``wrap``) several, between which the browser may break the line.

        ``display``: fractions and sums at full size (``displaystyle``), still inline.
        """
        chunks, cur, size = [], [], 0
        for p in self._pieces():
            if isinstance(p, Tok) and p.brk and cur and self.wrap and size >= MIN_CHUNK:
                chunks.append(cur)
                cur, size = [], 0
            cur.append(p.mathml if isinstance(p, Tok) else _mathml(p))
            size += len(p.text.strip()) if isinstance(p, Tok) else len(_text(p))
        chunks.append(cur)
        attr = ' displaystyle="true"' if display else ""
        return " ".join(f'<math xmlns="{MATHML_NS}"{attr}><mrow>{"".join(c)}</mrow></math>' for c in chunks)

    def as_json(self):
        return {"text": self.text(), "latex": self.latex() if not self.wrap else Math(*self.parts).latex()}


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


def _render(blocks, title, fmt):
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


# -- the content ------------------------------------------------------------------------

def _fmt_value(v):
    if v is None:
        return "skipped"
    v = float(v)
    if not np.isfinite(v):
        return "NaN" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    s = format(v, VALUE_FMT)
    return "0" if s in ("-0", "0") else s


def _layer_sizes(spec):
    return "-".join(str(s) for s in [spec.input] + [ly.units for ly in spec.layers])


def _network_blocks(spec, result):
    from .losses import LOSSES

    conv = ("column: samples are columns, z = W @ a_prev + b, W is (units, fan_in)" if spec.convention == "column"
            else "row: samples are rows, z = a_prev @ W + b, W is (fan_in, units)")
    bias = {"separate": "separate: a vector b, one entry per unit",
            "none": "none: no bias",
            "augmented": "augmented: a constant 1 is appended to each layer's input; its weight is the bias"}
    rows = [["name", spec.name], ["input", str(spec.input)],
            ["layers", ", ".join(f"{ly.kind} {ly.units} {ly.activation}" for ly in spec.layers)],
            ["sizes", _layer_sizes(spec)], ["loss", f"{spec.loss}: C = {LOSSES[spec.loss].formula}"],
            ["convention", conv], ["bias", bias.get(spec.bias, spec.bias)],
            ["samples", f"N = {spec.n_samples}" + ("" if spec.data is not None else f" (seeded, seed {spec.seed})")],
            ["parameters", f"{spec.n_params}" + ("" if spec.params is not None else f" (seeded, seed {spec.seed})")]]
    blocks = [Heading("The network", 2), Table(["key", "value"], rows, ["left", "left"], "ll")]
    blocks += [Heading("Parameters", 3)]
    params = result.extra["params"]
    for name, li, kind, shape in spec.param_names():
        arr = np.asarray(params[li][kind], float)
        ly = spec.layers[li]
        inputs = [f"input {k}" for k in range(ly.fan_in)] + (["1 (bias)"] if spec.bias == "augmented" else [])
        units = [f"unit {j}" for j in range(ly.units)]
        if kind == "b":
            blocks.append(Para([f"{name}, shape {tuple(shape)}: one bias per unit of layer {li}."]))
            blocks += _grid("", units, [name], arr[None, :])
            continue
        if spec.convention == "column":
            where, row_labels, col_labels = "W[j, k] is unit j's weight on input k", units, inputs
        else:
            where, row_labels, col_labels = "W[k, j] is unit j's weight on input k", inputs, units
        extra = ""
        if spec.bias == "augmented":
            extra = "; the last " + ("column" if spec.convention == "column" else "row") + " is the bias"
        blocks.append(Para([f"{name}, shape {tuple(shape)} (layer {li}, {ly.activation}): {where}{extra}."]))
        blocks += _grid(name, col_labels, row_labels, arr)
    X, Y = (np.asarray(spec.conv.to_samples(np.asarray(a, float))) for a in (result.extra["X"], result.extra["Y"]))
    x_heads = [Math(sp.Symbol(f"x_{k}")) for k in range(X.shape[1])]
    y_heads = [Math(sp.Symbol(f"y_{k}")) for k in range(Y.shape[1])]
    blocks.append(Heading("Data", 3))
    blocks.append(Para(["One sample per row (whatever the convention): inputs x and targets y."]))
    blocks += _grid("sample n", x_heads + y_heads, [str(n) for n in range(len(X))], np.hstack([X, Y]))
    return blocks


def _grid(corner, col_labels, row_labels, values, max_cols=GRID_COLUMNS):
    """Tables of a matrix of numbers, at most ``max_cols`` value columns each (wide matrices are split)."""
    tables = []
    for start in range(0, max(len(col_labels), 1), max_cols):
        cols = col_labels[start:start + max_cols]
        rows = [[lab, *[Value(_fmt_value(v)) for v in row[start:start + max_cols]]]
                for lab, row in zip(row_labels, values)]
        tables.append(Table([corner, *cols], rows, ["left"] + ["right"] * len(cols), "l" + "r" * len(cols)))
    return tables


def _m(*parts):
    """Inline maths from SymPy objects, tokens or names (``"w_jk"`` is the Symbol w_jk)."""
    return Math(*[sp.Symbol(p) if isinstance(p, str) else p for p in parts])


def _fact_blocks(spec, trace, fact):
    i, j, k = fact.indices
    S = sp.Symbol
    z_i, w_jk, C = S("z_i"), S("w_jk"), S("C")
    zb = sp.IndexedBase("z")
    m = S("m", integer=True, positive=True)
    chain = sp.Sum(fact.delta[i] * Partial(zb[i], w_jk), (i, 0, m - 1))
    rows = [(Math(Partial(z_i, w_jk)), Math(sp.Derivative(fact.z, fact.w[j, k]), EQ, fact.rhs)),
            (Math(Partial(C, w_jk)), Math(chain, EQ, fact.chain_sum, EQ, fact.chain_rhs))]
    i_is_j = _m(i, EQ, j)
    if spec.convention == "column":
        where = ["In this network (column convention) W[j, k] holds ", _m(w_jk)]
    else:
        where = ["In this network (row convention) W[k, j] holds ", _m(w_jk)]
    if spec.bias == "augmented":
        where += [", and the last input is the constant ", _m(1), ", so the bias weight's gradient is ", _m("delta_j")]
    blocks = [
        Heading("The local fact", 2),
        Para(["SymPy differentiates the weighted input of unit ", _m(i), ", ", _m(z_i, EQ, fact.z),
              " (", _m("n"), " inputs, ", _m(m), " units), with respect to one weight ", _m(w_jk),
              " (symbolic.local_fact). Only unit ", _m(j), "'s weighted input contains that weight, so the "
              "derivative is the input ", _m("x_k"), " when ", i_is_j, " and 0 otherwise: the bracket ",
              _m(sp.KroneckerDelta(i, j)), " is 1 or 0. The chain rule sums over the units with ",
              _m(S("delta_i"), EQ, Partial(C, z_i)), ", and only the term ", i_is_j, " survives:"]),
        Equations(rows),
        Para(["So ", _m(Partial(C, w_jk)), " pairs the δ of the layer's output unit ", _m(j),
              " with the layer's input ", _m("x_k"), " (", _m("a^(l-1)_k"), " above the first layer), and ",
              _m(Partial(C, S("b_j")), EQ, S("delta_j")), " because ",
              _m(Partial(z_i, S("b_j")), EQ, sp.KroneckerDelta(i, j)), ". ", *where,
              "; summed over a batch, the shape trace's weight-gradient steps read:"]),
    ]
    dws = [f"layer {s.layer}: {s.equation()}" for s in trace.steps("backward") if s.name == "dW"]
    blocks.append(Code("\n".join(dws)))
    return blocks


def _prime_symbol(ly):
    return sp.Symbol(ly.activation)


def _delta_rows(spec, d):
    """(δ, chain rule, ∂C/∂a, ∂a/∂z, δ as derived) per unit, output layer first."""
    rows = []
    C = sp.Symbol("C")
    for li in reversed(range(len(spec.layers))):
        ly = spec.layers[li]
        elementwise = ly.act.derivative is not None
        back = {} if elementwise else {d.forward[am]: am for am in d.a[li]}
        for jj, (zj, aj, dj) in enumerate(zip(d.z[li], d.a[li], d.delta[li])):
            if li == len(spec.layers) - 1:
                da = [d.da[am] for am in d.a[li]]
            else:
                nxt = d.z[li + 1]
                da = [sp.Add(*[sp.diff(d.forward[zi], am) * di for zi, di in zip(nxt, d.delta[li + 1])])
                      for am in d.a[li]]
            if elementwise:
                if li == len(spec.layers) - 1:
                    chain = Math(Partial(C, aj), DOT, Prime(_prime_symbol(ly), zj))
                else:
                    chain = Math(LP, da[jj], RP, DOT, Prime(_prime_symbol(ly), zj))
                dadz = Math(sp.diff(d.forward[aj], zj))
                dca = Math(da[jj])
            else:
                terms = []
                for m, am in enumerate(d.a[li]):
                    terms += [PLUS] if m else []
                    terms += [Partial(C, am), DOT, Partial(am, zj)]
                chain = Math(*terms)
                dca = Math(sp.Tuple(*da))
                dadz = Math(sp.Tuple(*[sp.diff(d.forward[am], zj).xreplace(back) for am in d.a[li]]))
            rows.append((li, jj, dj, chain, dca, dadz, Math(d.deltas[dj])))
    return rows


def _derivation_blocks(spec, d, delta_rows):
    from .activations import sigmoid

    _sig = sigmoid(sp.Symbol("z"))
    N = spec.n_samples
    fw = [(Math(s), Math(e)) for s, e in d.forward.items()]
    cost = [(Math(sp.Symbol("C_n")), Math(d.loss))]
    cost += [(Math(Partial(sp.Symbol("C_n"), a)), Math(g)) for a, g in d.da.items()]
    L = len(spec.layers) - 1
    dL, aL, zL = sp.Symbol("delta^(L)_j"), sp.Symbol("a^(L)_j"), sp.Symbol("z^(L)_j")
    dl, zl = sp.Symbol("delta^(l)_j"), sp.Symbol("z^(l)_j")
    i = sp.Symbol("i")
    w_next = sp.Symbol("w^(l+1)_ij" if spec.convention == "column" else "w^(l+1)_ji")
    sigma = sp.Symbol("σ")
    generic = [(Math(dL), Math(Partial(sp.Symbol("C"), aL), DOT, Prime(sigma, zL)))]
    if L > 0:
        generic.append((Math(dl), Math(LP, sp.Sum(w_next * sp.Symbol("delta^(l+1)_i"), (i, 0, sp.Symbol("m") - 1)),
                                       RP, DOT, Prime(sigma, zl))))
    blocks = [
        Heading("Forward pass and cost", 2),
        Para(["Symbols: inputs ", _m("x_k"), ", targets ", _m("y_k"), "; layer ", _m("l"), " has weights ",
              _m("w^(l)_jk"), ", biases ", _m("b^(l)_j"), ", weighted inputs ", _m("z^(l)_j"), " and activations ",
              _m("a^(l)_j"), f" (layers and indices count from 0; the output layer is L = {L}). The cost is ",
              _m(sp.Symbol("C"), EQ, sp.Sum(sp.Symbol("C_n"), (sp.Symbol("n"), 0, N - 1))),
              f" over the N = {N} samples: every formula below is for one sample, and the values in the element "
              "table are summed over the samples."]),
        Equations(fw + cost),
        Heading("Error terms δ = ∂C/∂z (backpropagation)", 2),
        Para(["The chain rule, from the output layer down (", _m("sigma"), " stands for the layer's activation, ",
              _m("m"), " for the number of units of layer ", _m(sp.Symbol("l") + 1), "):"]),
        Equations(generic),
        Para(["SymPy differentiates each factor of the local expressions (", _m(Prime(sp.Symbol("σ"), sp.Symbol("z"))),
              " comes out in the textbook forms ", _m(_sig * (1 - _sig)), " and ", _m(1 - sp.tanh(sp.Symbol("z")) ** 2),
              ") and multiplies them:"
              ] + ([" for softmax the Jacobian is not diagonal, so ", _m("delta_j"), " sums over every output ",
                    _m("m"), "."] if any(ly.act.derivative is None for ly in spec.layers) else [])),
    ]
    rows = []
    for _li, _jj, dj, chain, dca, dadz, derived in delta_rows:
        rows.append([Math(dj), *[Math(*m.parts, wrap=True) for m in (chain, dca, dadz, derived)]])
    kinds = {ly.act.derivative is not None for ly in spec.layers}
    local = ([Prime(sp.Symbol("σ"), sp.Symbol("z"))] if True in kinds else []) + ([COMMA] if len(kinds) == 2 else [])
    local += [Partial(sp.Symbol("a_m"), sp.Symbol("z_j"))] if False in kinds else []
    heads = [Math(sp.Symbol("delta")), "chain rule", Math(Partial(sp.Symbol("C_n"), sp.Symbol("a"))), Math(*local),
             "δ as derived"]
    blocks.append(Table(heads, rows,
                        ["left"] * 5,
                        r"l>{\raggedright\arraybackslash}p{4.2cm}>{\raggedright\arraybackslash}p{5.2cm}"
                        r">{\raggedright\arraybackslash}p{4.5cm}>{\raggedright\arraybackslash}p{6.2cm}",
                        long=True, small=True, display=True))
    return blocks


def _element_rows(spec, d, result):
    """Per element: (DerivedElement or None, name, index, {opinion: value}, verdicts, max rel diff, agreement)."""
    out = []
    elements = {(e.name, e.index): e for e in d.elements} if d is not None else {}
    for t in result.tensors:
        ops = [op for op in ("symbolic", "backprop", "numeric", "impl") if t.values.get(op) is not None]
        arrays = {op: np.asarray(t.values[op], float) for op in ops}
        ops = [op for op in ops if arrays[op].shape == tuple(t.shape)]
        for idx in np.ndindex(*t.shape):
            vals = {op: float(arrays[op][idx]) for op in ops}
            verdicts = {op: str(t.verdict(op)[idx]) for op in t.checked if t.verdict(op) is not None}
            keys = list(vals)
            diff = 0.0
            for a in range(len(keys)):
                for b in range(a + 1, len(keys)):
                    diff = max(diff, float(errors(vals[keys[a]], vals[keys[b]])[1]))
            worst = max(verdicts.values(), key=BANDS.index) if verdicts else "unchecked"
            if len(verdicts) < len(t.checked):
                worst = "wrong"
            out.append((elements.get((t.name, tuple(idx))), t.name, tuple(idx), vals, verdicts, diff, worst))
    return out


def _element_label(name, index):
    return f"{name}[{', '.join(map(str, index))}]"


def _element_blocks(spec, d, result, fmt):
    from .symbolic import EXPAND_MAX_DEPTH, EXPAND_MAX_PARAMS

    rows_data = _element_rows(spec, d, result)
    has_impl = "impl" in result.opinions
    blocks = [
        Heading("Every gradient element", 2),
        Para(["For each parameter element ", _m("theta"), ", SymPy multiplies the local derivative ",
              _m(Partial(sp.Symbol("z_j"), sp.Symbol("theta"))), " (the fact above: the input ", _m("x_k"),
              " or ", _m("a^(l-1)_k"), ", or 1 for a bias) by ", _m("delta_j"), ": the chain-rule form. "
              + ("The expanded form substitutes every z, a and δ by its definition, so it holds x, y, w and b "
                 "only. " if d is not None and d.expanded else
                 f"Expanded forms are written out only for small networks (at most {EXPAND_MAX_PARAMS} parameters "
                 f"and {EXPAND_MAX_DEPTH} layers). ")
              + "The values are summed over the samples: SymPy's (its chain-rule forms evaluated at the data), "
              "the reference backprop's, central finite differences'" + (", and your backprop's" if has_impl else "")
              + ". Agreement is the worst verdict of " + ", ".join(result.checked)
              + " against finite differences (good, kink, suspicious, wrong), with the largest relative "
              "difference |u − v| / max(|u|, |v|) between any two of the values."]),
    ]
    theta = sp.Symbol("theta")
    headers = ["element", Math(theta), Math(Partial(sp.Symbol("C_n"), theta)), "expanded",
               "SymPy", "backprop", "finite diff."] + (["your backprop"] if has_impl else []) + ["agreement"]
    rows, expanded = [], []
    expanded_any = d is not None and d.expanded
    for e, name, idx, vals, _verdicts, diff, worst in rows_data:
        label = _element_label(name, idx)
        if e is None:
            sym, chain, exp = "—", "—", "—"
        else:
            sym, chain = Math(e.symbol), Math(e.chain_rule)
            exp = "—"
            if e.expanded is not None:
                if fmt == "markdown":
                    expanded.append((label, e))
                    exp = f"[E{len(expanded)}](#expanded-forms)"
                else:
                    exp = Math(e.expanded, wrap="wide")
        values = [Value(_fmt_value(vals.get(op))) for op in ("symbolic", "backprop", "numeric")]
        if has_impl:
            values.append(Value(_fmt_value(vals.get("impl"))))
        rows.append([label, sym, chain, exp, *values, Value(f"{worst}, {diff:.1e}")])
    n_val = 4 if has_impl else 3
    wide = r">{\raggedright\arraybackslash}p{" + ("7.6" if has_impl else "9.4") + "cm}"
    colspec = (r"l>{\raggedright\arraybackslash}p{1.4cm}>{\raggedright\arraybackslash}p{2.2cm}"
               + (wide if expanded_any else "l") + "r" * n_val + "l")
    blocks.append(Table(headers, rows, ["left"] * 4 + ["right"] * n_val + ["left"], colspec, long=True,
                        small=True))
    if expanded:
        blocks.append(Heading("Expanded forms", 3))
        for n, (label, e) in enumerate(expanded, 1):
            blocks.append(Para([f"E{n}: {label}, ", Math(e.symbol)]))
            blocks.append(Equations([(Math(Partial(sp.Symbol("C_n"), e.symbol)), Math(e.expanded))]))
    return blocks, rows_data


def _derive(spec):
    from .symbolic import SYMBOLIC_LIMIT, derive

    if spec.n_params > SYMBOLIC_LIMIT:
        return None
    return derive(spec, expand="auto")


@dataclass
class _Content:
    spec: object
    fact: object
    derivation: object
    delta_rows: list


def _content(result):
    from .symbolic import local_fact

    spec = result.extra["spec"]
    d = _derive(spec)
    return _Content(spec, local_fact(), d, _delta_rows(spec, d) if d is not None else [])


def _title(spec):
    return f"Derivation report: {spec.name}"


def build_report(result, trace, fmt, content=None):
    """The report of one checked network (``result`` from :func:`~gradcheck.check.check_network`) as a string.

    ``fmt`` is "markdown", "html", "latex" or "json".
    """
    if fmt == "json":
        return json.dumps(report_json(result, trace, content), indent=2, ensure_ascii=False) + "\n"
    if fmt not in EXTENSIONS:
        raise GradcheckError(f"report format must be one of {', '.join(REPORT_FORMATS)}, got {fmt!r}")
    c = content or _content(result)
    spec, d = c.spec, c.derivation
    blocks = []
    intro = [spec.description] if spec.description else []
    intro.append(spec.describe() + ". " + (
        "A checked derivation: every gradient element is derived by SymPy, computed by the reference backprop "
        "and estimated by finite differences." if d is not None else
        "The network is too large for the per-element SymPy derivation; the check below covers it."))
    blocks += [Para([p]) for p in intro]
    blocks += _network_blocks(spec, result)
    blocks.append(Raw(render_trace(trace, spec, fmt)))
    blocks += _fact_blocks(spec, trace, c.fact)
    if d is not None:
        blocks += _derivation_blocks(spec, d, c.delta_rows)
    element_blocks, _ = _element_blocks(spec, d, result, fmt)
    blocks += element_blocks
    blocks.append(Raw(render_check(result, fmt)))
    return _render(blocks, _title(spec), fmt)


def _tidy(x):
    """JSON-safe numbers: NaN/inf become null; NumPy scalars become floats."""
    if isinstance(x, dict):
        return {k: _tidy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_tidy(v) for v in x]
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def report_json(result, trace, content=None):
    """The JSON document of a report (a dict)."""
    c = content or _content(result)
    spec, d, fact = c.spec, c.derivation, c.fact
    check = result_json(result, trace)
    check["source"] = os.path.basename(spec.source) if spec.source else None
    doc = {
        "name": spec.name, "title": _title(spec), "description": spec.description, "summary": spec.describe(),
        "spec": spec.to_dict(), "shapes": trace.to_json(),
        "local_fact": {
            "text": (f"z_i = {_text(fact.z)}; dz_i/dw_jk = {_text(fact.rhs)}; "
                     f"dC/dw_jk = {_text(fact.chain_sum)} = {_text(fact.chain_rhs)}"),
            "dz_dw": {"text": _text(fact.rhs), "latex": _latex(fact.rhs)},
            "dC_dw": {"text": f"{_text(fact.chain_sum)} = {_text(fact.chain_rhs)}",
                      "latex": f"{_latex(fact.chain_sum)} = {_latex(fact.chain_rhs)}"},
            "z": {"text": _text(fact.z), "latex": _latex(fact.z)},
            "latex": (rf"\frac{{\partial z_i}}{{\partial w_{{jk}}}} = {_latex(fact.rhs)}, \qquad "
                      rf"\frac{{\partial C}}{{\partial w_{{jk}}}} = {_latex(fact.chain_sum)} "
                      rf"= {_latex(fact.chain_rhs)}"),
        },
    }
    if d is not None:
        doc["forward"] = [{"symbol": _text(s), "text": _text(e), "latex": _latex(e)} for s, e in d.forward.items()]
        doc["loss"] = {"text": _text(d.loss), "latex": _latex(d.loss)}
        doc["loss_gradient"] = [{"symbol": _text(a), "text": _text(g), "latex": _latex(g)} for a, g in d.da.items()]
        doc["deltas"] = [{"symbol": _text(dj), "layer": li, "unit": jj, "chain_rule": chain.as_json(),
                          "dC_da": dca.as_json(), "da_dz": dadz.as_json(), "derived": derived.as_json()}
                         for li, jj, dj, chain, dca, dadz, derived in c.delta_rows]
        doc["expanded"] = bool(d.expanded)
    else:
        doc.update(forward=None, loss=None, loss_gradient=None, deltas=None, expanded=False)
    elements = []
    for e, name, idx, vals, verdicts, diff, worst in _element_rows(spec, d, result):
        entry = {"element": _element_label(name, idx), "name": name, "index": list(idx)}
        if e is not None:
            entry.update(layer=e.layer, kind=e.kind, unit=e.unit, input=e.input,
                         symbol={"text": _text(e.symbol), "latex": _latex(e.symbol)},
                         local={"text": _text(e.local), "latex": _latex(e.local)},
                         chain_rule={"text": _text(e.chain_rule), "latex": _latex(e.chain_rule)},
                         expanded=None if e.expanded is None else {"text": _text(e.expanded),
                                                                   "latex": _latex(e.expanded)})
        for op in ("symbolic", "backprop", "numeric", "impl"):
            if op in vals or op != "impl":
                entry[op] = vals.get(op)
        entry.update(verdicts=verdicts, agreement=worst, max_rel_diff=diff)
        elements.append(entry)
    doc["elements"] = elements
    doc["check"] = check
    return _tidy(doc)


# -- files --------------------------------------------------------------------------------

def report_paths(name, out_dir, fmt=None):
    """{format: path} of the report files of the network ``name`` in ``out_dir`` (every format, or ``fmt``)."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise GradcheckError(f"cannot name a report file after the network name {name!r}: set a plain \"name\"")
    fmts = REPORT_FORMATS if fmt is None else (fmt,)
    for f in fmts:
        if f not in EXTENSIONS:
            raise GradcheckError(f"report format must be one of {', '.join(REPORT_FORMATS)}, got {f!r}")
    return {f: Path(out_dir) / f"{name}{EXTENSIONS[f]}" for f in fmts}


def _same_file(a, b):
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _is_report(path):
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "elements" in doc and "check" in doc


def write_reports(result, trace, out_dir, fmt=None, inputs=()):
    """Write the report of one checked network into ``out_dir`` (created if missing); return the paths.

    ``fmt``: one of :data:`REPORT_FORMATS`, or None for all of them. Files are named
    ``<spec name>.md/.html/.tex/.json``. A target that is one of ``inputs`` (the net.json
    files being checked) raises :class:`GradcheckError` before anything is written.
    """
    spec = result.extra["spec"]
    paths = report_paths(spec.name, out_dir, fmt)
    for path in paths.values():
        for src in inputs:
            if _same_file(path, src):
                raise GradcheckError(f"refusing to write the report {path}: it would overwrite the input {src} "
                                     f"(choose another --report directory)")
        if path.suffix == ".json" and path.is_file() and not _is_report(path):
            raise GradcheckError(f"refusing to overwrite {path}: it is not a gradcheck derivation report "
                                 f"(a net.json?); choose another --report directory")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise GradcheckError(f"report directory {out_dir} is a file")
    out.mkdir(parents=True, exist_ok=True)
    content = _content(result)
    for f, path in paths.items():
        text = build_report(result, trace, f, content)
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    return list(paths.values())


def _spec_files(specs):
    files = []
    for s in specs:
        p = Path(s)
        if p.is_dir():
            files += sorted(p.glob("*.json"))
        elif p.exists():
            files.append(p)
        else:
            raise GradcheckError(f"no such file or directory: {s}")
    if not files:
        raise GradcheckError(f"no net.json files in {', '.join(map(str, specs))}")
    return files


def generate(specs, out_dir, fmt=None):
    """Check every net.json in ``specs`` (files or folders) as the CLI does and write its reports."""
    from .check import check_network
    from .shapes import trace_shapes

    files = _spec_files(specs)
    written = []
    for path in files:
        spec = load_spec(str(path))
        result = check_network(spec)
        written += write_reports(result, trace_shapes(spec), out_dir, fmt, inputs=[str(p) for p in files])
    return written


def compare_dirs(fresh, committed):
    """Lines ``stale: …``, ``missing: …``, ``extra: …`` for the files of ``committed`` that differ from ``fresh``."""
    fresh, committed = Path(fresh), Path(committed)
    new = {p.name for p in fresh.iterdir() if p.is_file()}
    old = {p.name for p in committed.iterdir() if p.is_file() and not p.name.startswith(".")} \
        if committed.is_dir() else set()
    lines = []
    for name in sorted(new | old):
        target = committed / name
        if name not in old:
            lines.append(f"missing: {target}")
        elif name not in new:
            lines.append(f"extra: {target} (no net.json generates it)")
        elif (fresh / name).read_bytes() != target.read_bytes():
            lines.append(f"stale: {target}")
    return lines


def main(argv=None):
    """``python -m gradcheck.derivation_report [--check] [--specs DIR_OR_FILES] [--out DIR]``; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m gradcheck.derivation_report",
                                description="Regenerate the committed derivation reports, or (--check) verify that "
                                            "they are up to date.")
    p.add_argument("--check", action="store_true",
                   help="regenerate into a temporary folder and compare: exit 1 if a report is stale, missing "
                        "or extra")
    p.add_argument("--specs", nargs="+", default=["derivations"], metavar="PATH",
                   help="net.json files or folders of them (default: derivations)")
    p.add_argument("--out", default="reports", metavar="DIR", help="report folder (default: reports)")
    args = p.parse_args(argv)
    try:
        if args.check:
            with tempfile.TemporaryDirectory() as tmp:
                generate(args.specs, tmp)
                lines = compare_dirs(tmp, args.out)
            for line in lines:
                print(line)
            if lines:
                print(f"{len(lines)} report file(s) out of date; regenerate them with: python -m "
                      f"gradcheck.derivation_report --specs {' '.join(args.specs)} --out {args.out}", file=sys.stderr)
                return 1
            print(f"{args.out}: every report is up to date")
            return 0
        for path in generate(args.specs, args.out):
            print(path)
        return 0
    except GradcheckError as e:
        print(f"gradcheck: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
