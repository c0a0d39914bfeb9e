"""Formulas for reports: SymPy expressions printed as text, LaTeX and MathML, with line breaks.

Long expressions (expanded gradients run to thousands of characters) are cut into pieces
at + and − (and between long factors), so that table cells wrap and displays fit a page.
The printers write the symbols as a learner does: w^{(0)}_{1,2}, σ, softmax_i, [i = j].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.mathml import MathMLPresentationPrinter
from sympy.printing.str import StrPrinter

from ..catalogue import ACTIVATIONS
from ..catalogue.activations import NetFunctionBase
from .latex import latex_escape

__all__ = ["Math", "maths", "Tok", "Partial", "Prime", "to_text", "to_latex", "to_mathml", "EQ", "DOT", "PLUS", "MINUS",
           "LP", "RP", "COMMA"]


MATHML_NS = "http://www.w3.org/1998/Math/MathML"  # a namespace name, never fetched
#: Expressions longer than this (characters of their plain-text form) are cut into pieces
#: between which a line may break (table cells), or into lines of about LINE characters (displays).
PIECE = 34
LINE = 78
MIN_CHUNK = 16


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
    if name in ACTIVATIONS:
        return ACTIVATIONS[name].latex_head
    if name == "σ":
        return r"\sigma"
    if name in ("log", "exp", "sin", "cos"):
        return "\\" + name
    return r"\operatorname{%s}" % latex_escape(name)


def _head_text(name):
    return ACTIVATIONS[name].text_head if name in ACTIVATIONS else name


def _head_mathml(name):
    return f"<mi>{_head_text(name)}</mi>"


class _Str(StrPrinter):
    """SymPy's text printer with the report's notation; remembers every subexpression it printed.

    Cutting a long formula into pieces measures each piece's text (see :func:`_split`); the
    memory makes that one printing of each subexpression, not one per level of nesting.
    """

    _memo: ClassVar[dict] = {}

    def _print(self, expr, **kwargs):
        if kwargs or not isinstance(expr, sp.Basic):
            return super()._print(expr, **kwargs)
        try:
            return self._memo[expr]
        except KeyError:
            pass
        if len(self._memo) > 200_000:
            self._memo.clear()
        out = self._memo[expr] = super()._print(expr)
        return out

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
        return to_text(e)

    def _print_NetFunctionBase(self, e):  # noqa: N802 - SymPy's printer method names
        head, k = self._el("mi", text=e.text_head), e.index_args
        if k:
            head = self._el("msub", head, self._el("mn", text=e.subscript()))
        return self._row(head, self._paren(*e.args[k:]))

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


_TEXT = _Str()


def to_text(e):
    return _TEXT.doprint(e)


@lru_cache(maxsize=8192)
def to_latex(e):
    return _Latex().doprint(e)


@lru_cache(maxsize=8192)
def to_mathml(e):
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
    if isinstance(fn, NetFunctionBase) and fn.index_args:
        i = fn.subscript()
        return Tok(r"%s_{%s}" % (fn.latex_head, i), f"<msub><mi>{fn.text_head}</mi><mn>{i}</mn></msub>",
                   f"{fn.text_head}_{i}")
    name = type(fn).__name__
    return Tok(_head_latex(name), _head_mathml(name), _head_text(name))


def _split(e, budget=PIECE):
    """Cut ``e`` into expressions of at most ``budget`` characters and tokens, top level first."""
    if len(to_text(e)) <= budget:
        return [e]
    if e.is_Add:
        return _split_sum(e, budget)
    if e.is_Mul:
        return _split_product(e, budget)
    if isinstance(e, sp.Tuple):
        return _split_args([LP], e.args, budget)
    if isinstance(e, sp.Function) and e.args:
        return _split_args([_head_tok(e), LP], e.args[getattr(e, "index_args", 0):], budget)
    if e.is_Pow and e.exp.is_Integer and e.exp > 0 and (e.base.is_Add or isinstance(e.base, sp.Function)):
        exp = int(e.exp)
        close = Tok(r")^{%d}" % exp, f"<msup><mo>)</mo><mn>{exp}</mn></msup>", f")**{exp}")
        base = [LP, *_split(e.base, budget), RP] if e.base.is_Add else _split(e.base, budget)
        if len(base) > 1 and base[-1] is RP:
            return [*base[:-1], close]
    return [e]


def _split_sum(e, budget):
    out = []
    for n, term in enumerate(e.as_ordered_terms()):
        neg = term.could_extract_minus_sign()
        out += ([MINUS if neg else PLUS] if n else [NEG] if neg else []) + _split(-term if neg else term, budget)
    return out


def _split_product(e, budget):
    if e.could_extract_minus_sign():
        return [NEG, *_split(-e, budget)]
    num, den = sp.fraction(e, exact=True)
    coeff, rest = num.as_coeff_Mul()
    factors = list(rest.as_ordered_factors()) if rest.is_Mul else [rest]
    out = []
    if den != 1 and len(to_text(den)) > budget:
        return [*_group(num, budget), SLASH, *_group(den, budget)]
    if den != 1 or coeff != 1:
        out.append(coeff / den)
    for f in factors:
        if out:
            out.append(TIMES)
        out += [LP, *_split(f, budget), RP] if f.is_Add else _split(f, budget)
    return out


def _split_args(out, args, budget):  # out: "(" or a function's head and "("
    for n, a in enumerate(args):
        if n:
            out += [COMMA, BREAK]
        out += _split(a, budget)
    return [*out, RP]


def _group(e, budget):
    """``_split(e)``, in parentheses unless ``e`` is a single factor (a symbol, a function, a power)."""
    parts = _split(e, budget)
    atomic = not (e.is_Add or e.is_Mul or e.could_extract_minus_sign()) or (e.is_Mul and len(parts) == 1)
    return parts if atomic else [LP, *parts, RP]


class Math:
    """A formula: a list of SymPy expressions and :class:`Tok` tokens, in reading order.

    ``wrap``: a line may break between its pieces (a table cell). Each way of printing it
    is computed once and kept: a formula is printed once per format.
    """

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
        self._printed = {}

    def _once(self, key, make):
        if key not in self._printed:
            self._printed[key] = make()
        return self._printed[key]

    def wrapped(self):
        """The same formula, with places where a line may break."""
        return self if self.wrap else Math(*self.parts, wrap=True)

    def _pieces(self):
        return self._once("pieces", lambda: [q for p in self.parts
                                             for q in ([p] if isinstance(p, Tok) else _split(p))])

    def text(self):
        return self._once("text", lambda: "".join(p.text if isinstance(p, Tok) else to_text(p) for p in self.parts))

    def __len__(self):
        """The length of its plain text."""
        return len(self.text())

    def latex(self, wrap=None):
        """One LaTeX string; with ``wrap`` (default: the formula's own), TeX may break the line between pieces."""
        wrap = self.wrap if wrap is None else wrap
        return self._once(("latex", bool(wrap)), lambda: self._latex(wrap))

    def _latex(self, wrap):
        out = []
        for p in (self._pieces() if wrap else self.parts):
            s = p.latex if isinstance(p, Tok) else to_latex(p)
            if wrap and p is BREAK:
                s = r"\allowbreak"
            elif not wrap and p in (LP, RP):
                s = r"\left(" if p is LP else r"\right)"
            out.append(s)
        return " ".join(s for s in out if s).replace("( ", "(").replace(" )", ")")

    def latex_lines(self, width=LINE):
        """LaTeX lines (for ``aligned``) of about ``width`` characters of text, broken where allowed."""
        return self._once(("lines", width), lambda: self._latex_lines(width))

    def _latex_lines(self, width):
        lines, cur, size = [], [], 0
        for p in self._pieces():
            if isinstance(p, Tok) and p.brk and size > width:
                lines.append(cur)
                cur, size = [r"\cdot" if p is TIMES else ""], 0
            s = (p.latex if p is not TIMES else "") if isinstance(p, Tok) else to_latex(p)
            cur.append(s)
            size += len(p.text if isinstance(p, Tok) else to_text(p))
        lines.append(cur)
        if len(lines) == 1:
            return [self.latex(wrap=False)]
        return [" ".join(s for s in line if s).replace("( ", "(").replace(" )", ")") for line in lines]

    def mathml(self, display=False):
        """``<math>`` elements: one, or (``wrap``) several, between which the browser may break the line.

        ``display``: fractions and sums at full size (``displaystyle``), still inline.
        """
        return self._once(("mathml", display), lambda: self._mathml(display))

    def _mathml(self, display):
        chunks, cur, size = [], [], 0
        for p in (self._pieces() if self.wrap else self.parts):
            if isinstance(p, Tok) and p.brk and cur and self.wrap and size >= MIN_CHUNK:
                chunks.append(cur)
                cur, size = [], 0
            cur.append(p.mathml if isinstance(p, Tok) else to_mathml(p))
            size += len(p.text.strip()) if isinstance(p, Tok) else len(to_text(p))
        chunks.append(cur)
        attr = ' displaystyle="true"' if display else ""
        return " ".join(f'<math xmlns="{MATHML_NS}"{attr}><mrow>{"".join(c)}</mrow></math>' for c in chunks)

    def as_json(self):
        return {"text": self.text(), "latex": self.latex(wrap=False)}

    def __repr__(self):
        return f"Math({self.text()!r})"


def maths(*parts):
    """Inline maths from SymPy objects, tokens or names (``"w_jk"`` is the Symbol w_jk)."""
    return Math(*[sp.Symbol(p) if isinstance(p, str) else p for p in parts])
