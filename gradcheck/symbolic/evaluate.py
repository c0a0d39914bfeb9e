"""Numbers from SymPy forms: the steps (z, a, δ) and the gradient elements evaluated node by node with NumPy.

Sums, products and whole powers are computed here, as the code ``sympy.lambdify`` prints for them
computes them (terms in their stored order, a product's denominator divided once, ``x - y`` for
a negative term); every other node (σ, tanh, softmax, a Piecewise, √) goes through
``sympy.lambdify`` once per kind of node, with its operands as arguments. Each node is evaluated
once, whichever step or element holds it. Printing and compiling a whole network's code instead
costs a few hundred microseconds per parameter; this costs a few.
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np
import sympy as sp
from sympy.core.mul import _keep_coeff

from ..catalogue.activations import SYMPY_NUMPY
from ..catalogue.sympy_forms import elementary

__all__ = ["Evaluator", "ExactEvaluator", "printer"]


def printer():
    """lambdify's NumPy printer as it builds it for these modules, but printing sums in their stored order: sorting
    the terms of every sum (the printer's default) costs more than the rest of the compilation."""
    from sympy.printing.numpy import NumPyPrinter

    return NumPyPrinter({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
                         "user_functions": {k: k for k in SYMPY_NUMPY}, "order": "none"})


_ARGS = []  # the template arguments t0, t1, …: the same Dummy in every template, so templates compare equal


def _arg(i):
    while len(_ARGS) <= i:
        _ARGS.append(sp.Dummy(f"t{len(_ARGS)}"))
    return _ARGS[i]


class Evaluator:
    """Values of SymPy expressions given the values of their symbols (``known``: {symbol: number or array}).

    ``value(expr)`` evaluates one expression; every node's value is kept (``values``), so a step's symbol,
    once defined with :meth:`define`, is a known value for the expressions after it.
    """

    def __init__(self, known):
        self.values = dict(known)
        self._printer = printer()
        self._numpy = tuple((k, id(v)) for k, v in SYMPY_NUMPY.items())  # compiled templates bind these functions

    def define(self, symbol, expr):
        """Evaluate ``expr`` and make it the value of ``symbol``."""
        self.values[symbol] = v = self.value(expr)
        return v

    def value(self, expr):
        try:
            return self.values[expr]
        except KeyError:
            if not isinstance(expr, sp.Basic):  # a plain number in a form
                return expr
        if expr.is_Add:
            args = expr.args
            v = self.value(args[0])
            for t in args[1:]:
                v = v + self.value(t)
        elif expr.is_Mul:
            v = self._product(expr)
        elif expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
            v = self.value(expr.base) ** int(expr.exp)
        elif expr.is_Integer:
            v = int(expr)
        elif expr.is_Rational:
            v = expr.p / expr.q  # as the printed "p/q"
        elif expr.is_Float:
            v = float(self._printer.doprint(expr))  # the digits the printed code would hold
        elif expr.is_Symbol:
            raise KeyError(f"no value for {expr}")
        else:
            v = self._call(expr)
        self.values[expr] = v
        return v

    def _product(self, expr):
        """The printer's reading of a product: its sign, the factors of the numerator, then one division by the
        product of the denominator's (factors with a negative exponent)."""
        c, rest = expr.as_coeff_Mul()
        negative = c < 0
        if negative:
            expr = _keep_coeff(-c, rest)
        num, den = [], []
        for f in sp.Mul.make_args(expr):
            if f.is_Pow and f.exp.is_Rational and f.exp.is_negative:
                den.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp, evaluate=False))
            else:
                num.append(f)
        v = self.value(num[0]) if num else 1
        if negative:
            v = -v
        for f in num[1:]:
            v = v * self.value(f)
        if den:
            d = self.value(den[0])
            for f in den[1:]:
                d = d * self.value(f)
            v = v / d
        return v

    def _call(self, expr):
        """Any other node through a lambdified template: a function of its non-numeric operands (tanh(t0),
        softmax(1, t0, t1, t2)), or, where an operand is not an expression (a Piecewise's conditions), the
        whole node in its symbols."""
        if all(isinstance(a, sp.Expr) for a in expr.args):
            operands = [a for a in expr.args if not a.is_Number]
            fn = _head(expr.func, tuple(a if a.is_Number else None for a in expr.args), self._numpy)
        else:
            operands = sorted(expr.free_symbols, key=lambda s: s.name)
            fn = _compiled(len(operands), expr.xreplace({s: _arg(i) for i, s in enumerate(operands)}), self._numpy)
        return fn(*[self.value(a) for a in operands])


@functools.lru_cache(maxsize=512)
def _head(func, numbers, functions):
    """The lambdified ``func`` of its operands, its number arguments (``numbers``, None for an operand) kept."""
    it = iter(range(len(numbers)))
    template = func(*[_arg(next(it)) if a is None else a for a in numbers])
    return _compiled(sum(a is None for a in numbers), template, functions)


@functools.lru_cache(maxsize=512)
def _compiled(n, template, functions):
    """``template`` of the arguments t0 … t(n-1), lambdified once per session and set of NumPy functions
    (``functions``: :data:`SYMPY_NUMPY` by name and identity)."""
    return sp.lambdify([_arg(i) for i in range(n)], template, modules=[SYMPY_NUMPY, _numpy_names()], printer=printer())


@functools.cache
def _numpy_names():
    """What lambdify's "numpy" module puts in a function's namespace (``import numpy; from numpy import *; from
    numpy.linalg import *``), from the names NumPy has loaded: a star import loads every submodule NumPy's
    ``__all__`` names (f2py, testing, ma, …), 0.1 s of a process's first SymPy opinion, and no printed code calls
    one of them."""
    names = {key: value for key, value in vars(np).items() if not key.startswith("_")}
    names.update((key, getattr(np.linalg, key)) for key in np.linalg.__all__)
    names["numpy"] = np
    return names


class ExactEvaluator(Evaluator):
    """:class:`Evaluator` in mpmath numbers at the working precision (``mpmath.workdps``): every node as SymPy
    defines it, the catalogue's functions in their elementary form
    (:func:`~gradcheck.catalogue.sympy_forms.elementary`), instead of as NumPy rounds it. Slow (SymPy evaluates each
    node that is not a sum, a product or a whole power, sample by sample): for the few elements where a float64
    value is in doubt.

    >>> import mpmath
    >>> x, y, z = sp.symbols("x y z")
    >>> numbers = {x: 1e16, y: 1.0, z: -1e16}
    >>> Evaluator(numbers).value(x + y + z)  # 1e16 + 1 rounds to 1e16
    0.0
    >>> with mpmath.workdps(30):
    ...     ev = ExactEvaluator(numbers)
    ...     print(ev.value(x + y + z), ev.value(sp.tanh(y)) == mpmath.tanh(1))
    1.0 True
    """

    def __init__(self, known):
        super().__init__({k: _exact(v) for k, v in known.items()})

    def value(self, expr):
        if isinstance(expr, sp.Basic) and expr not in self.values:
            if expr.is_Rational and not expr.is_Integer:
                self.values[expr] = v = mpmath.mpf(expr.p) / expr.q
                return v
            if expr.is_Float:
                self.values[expr] = v = mpmath.mpf(float(self._printer.doprint(expr)))  # the digits the code holds
                return v
        return super().value(expr)

    def _call(self, expr):
        operands = sorted(expr.free_symbols, key=lambda s: s.name)
        values = [self.value(s) for s in operands]
        prec = mpmath.mp.prec

        def one(*numbers):
            node = expr.xreplace({s: sp.Float._new(mpmath.mpf(v)._mpf_, prec) for s, v in zip(operands, numbers)})
            try:
                return _mpf(elementary(node).evalf(mpmath.mp.dps))
            except NotImplementedError:  # a function with no elementary form: no exact value (NaN says nothing)
                return mpmath.mpf("nan")

        if any(isinstance(v, np.ndarray) for v in values):
            return np.frompyfunc(one, len(values), 1)(*values) if values else one()
        return one(*values)


def _exact(v):
    """A float or an array of them as mpmath numbers (an object array), exactly; anything else as it is."""
    if isinstance(v, np.ndarray) and v.dtype.kind == "f":
        return np.frompyfunc(mpmath.mpf, 1, 1)(v)
    return mpmath.mpf(v) if isinstance(v, float) else v


def _mpf(x):
    """An evaluated SymPy number as an mpmath number (NaN where it is not a real number)."""
    try:
        return mpmath.mpf(x._mpf_) if x.is_Float else mpmath.mpf(int(x)) if x.is_Integer else mpmath.mpf(float(x))
    except (TypeError, AttributeError, ValueError):
        return mpmath.mpf("nan")
