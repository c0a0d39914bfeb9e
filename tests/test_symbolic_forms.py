"""The shortcuts that keep the SymPy opinion linear and fast build and evaluate exactly what SymPy would.

``product``/``total`` build the same expression as ``sympy.Mul``/``sympy.Add``; ``by_shape`` gives the same
answer as the function it remembers; the node-by-node :class:`Evaluator` gives bit for bit the numbers of the
code ``sympy.lambdify`` prints for the same forms.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import sympy as sp

from gradcheck.catalogue.activations import SYMPY_NUMPY
from gradcheck.catalogue.sympy_forms import product, relu, sigmoid, softmax, total
from gradcheck.symbolic.evaluate import Evaluator, printer
from gradcheck.symbolic.network import sym
from gradcheck.symbolic.partials import by_shape

SYMS = [sym(letter, layer, i) for letter in ("w", "a", "x", "delta") for layer in (0, 1) for i in range(3)]
N = sp.Symbol("N", integer=True, positive=True)


def draw(rng, depth=0):
    """A random form of the kinds a derivation writes: sums, products, powers, coefficients, σ, relu', softmax."""
    x, r = rng.choice(SYMS), rng.random()
    if depth > 2 or r < 0.3:
        return x
    if r < 0.4:
        return sp.exp(draw(rng, depth + 1)) if r < 0.35 else sigmoid(draw(rng, depth + 1))
    if r < 0.45:
        return relu(x).diff(x)  # a Piecewise
    if r < 0.55:
        return draw(rng, depth + 1) ** rng.choice([2, -1, sp.Rational(-1, 2), sp.Rational(3, 2)])
    if r < 0.65:
        return rng.choice([2, -1, sp.Rational(1, 3), sp.Float(0.1), 1 / N]) * draw(rng, depth + 1)
    if r < 0.75:
        return softmax(rng.randint(0, 2), *SYMS[:3])
    if r < 0.85:
        return sp.Add(*[draw(rng, depth + 1) for _ in range(rng.randint(2, 3))])
    return sp.Mul(*[draw(rng, depth + 1) for _ in range(rng.randint(2, 3))])


def test_product_and_total_build_what_mul_and_add_build():
    rng, direct = random.Random(0), 0
    for _ in range(150):
        factors = [draw(rng) for _ in range(rng.randint(1, 3))] + ([SYMS[0]] * (rng.random() < 0.2))
        factors += [rng.choice([sp.Integer(2), sp.Rational(-1, 2)])] * (rng.random() < 0.3)  # distributed on a sum
        rng.shuffle(factors)
        terms = [draw(rng) for _ in range(rng.randint(1, 5))]
        terms += [2 * terms[0]] * (rng.random() < 0.2)  # like terms: Add combines them
        for got, want in ((product(*factors), sp.Mul(*factors)), (total(terms), sp.Add(*terms))):
            assert got == want and sp.srepr(got) == sp.srepr(want) and str(got) == str(want)
            direct += got is not want
    assert direct > 40  # the shortcut was taken, not only the fallback


def test_by_shape_gives_the_answer_of_the_function_itself():
    calls = []

    def diff(expr, s):
        calls.append(expr)
        return sp.factor_terms(sp.diff(expr, s))

    shaped = by_shape(diff)
    forms = [(-sym("y", None, n, k) * sp.log(sym("a", 3, n, k)) / N, sym("a", 3, n, k)) for n in range(3)
             for k in range(2)]
    forms += [((1 - sym("y", None, n)) * sp.log(1 - sym("a", 1, n)) / N, sym("a", 1, n)) for n in range(3)]
    for expr, s in forms:
        got = shaped(expr, s)
        assert sp.srepr(got) == sp.srepr(diff(expr, s))
    assert len(calls) == len(forms) + 2  # besides the direct calls, fn ran once per shape: two shapes


def test_the_evaluator_gives_the_numbers_of_lambdified_code():
    rng, values = random.Random(7), np.random.default_rng(7)
    exprs = [e for e in (draw(rng) for _ in range(300)) if not e.has(sp.zoo, sp.nan)]  # 1/relu'(x) aside
    known = {s: values.uniform(0.5, 2.0, 4) for s in SYMS}
    known[N] = 4
    ev = Evaluator(known)
    args = [*SYMS, N]
    code = sp.lambdify(args, exprs, modules=[SYMPY_NUMPY, "numpy"], printer=printer())
    with np.errstate(all="ignore"):
        want = code(*[known[s] for s in args])
        got = [ev.value(e) for e in exprs]
    for e, g, w in zip(exprs, got, want):
        np.testing.assert_array_equal(np.broadcast_to(g, (4,)), np.broadcast_to(w, (4,)), err_msg=str(e))


def test_the_evaluator_names_a_symbol_without_a_value():
    with pytest.raises(KeyError, match="x_0"):
        Evaluator({}).value(sym("x", None, 0) + 1)


def _catalogue_functions():
    """Every SymPy function of the catalogue (the embedding's is_token made first), each with numbers to call it
    at: its index or parameter arguments first, then operands on both sides of 0."""
    from gradcheck.catalogue.layers.embedding import is_token
    from gradcheck.catalogue.sympy_forms import NetFunctionBase, ParamFunctionBase

    is_token()
    seen, todo = [], [NetFunctionBase]
    while todo:
        for cls in todo.pop().__subclasses__():
            todo.append(cls)
            if cls is not ParamFunctionBase and cls.__module__.startswith("gradcheck."):  # not a test's own
                seen.append(cls)
    return seen


@pytest.mark.parametrize("z", [-1.7, 0.4, 2.5])
def test_every_catalogue_function_states_an_elementary_form_with_its_numpy_value(z):
    """The exact evaluation of SymPy's forms writes each catalogue function in SymPy's own functions: every one
    states that form, and its value there is NumPy's form's to 1e-13."""
    from gradcheck.catalogue.sympy_forms import elementary

    numpy_forms = {**SYMPY_NUMPY, "window_max": lambda *x: max(x), "hinge": lambda m: max(m, 0.0),
                   "hinge_prime": lambda m: float(m > 0), "is_window_max": lambda i, *x: float(x.index(max(x)) == i),
                   "is_token": lambda x, v: float(x == v)}
    calls = {"softmax": (1, z, 0.5, -z), "log_softmax": (1, z, 0.5, -z), "window_max": (z, 0.5, -z),
             "is_window_max": (1, z, 0.5, -z), "leaky_relu": (0.2, z), "elu": (1.0, z),
             "is_token": (3.0, 3) if z > 0 else (2.0, 3)}
    for cls in _catalogue_functions():
        name = cls.__name__
        args = calls.get(name, (z,))
        want = float(numpy_forms[name](*[np.float64(a) if isinstance(a, float) else a for a in args]))
        form = elementary(cls(*[sp.Integer(a) if isinstance(a, int) else sp.Float(a, 30) for a in args]))
        got = float(sp.N(form, 30))
        assert abs(got - want) <= 1e-13 * max(1.0, abs(want)), (name, args, got, want)


def test_the_exact_evaluation_of_a_function_without_an_elementary_form_is_nan():
    """A function that states no elementary form has no exact value: NaN, which says nothing (SymPy's float64
    value is then judged), rather than an error in the middle of a check."""
    import mpmath

    from gradcheck.catalogue.sympy_forms import NetFunctionBase
    from gradcheck.symbolic.evaluate import ExactEvaluator

    class mystery(NetFunctionBase):  # noqa: N801 - a SymPy function's name
        pass

    x = sp.Symbol("x")
    with mpmath.workdps(30):
        ev = ExactEvaluator({x: 0.5})
        assert mpmath.isnan(ev.value(mystery(x))) and ev.value(sp.tanh(x)) == mpmath.tanh(mpmath.mpf(0.5))
