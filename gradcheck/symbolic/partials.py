"""Derivatives of the network's forms, fast: a sum is differentiated only in the terms that hold the symbol,
a product only in its one factor that does, and a form that repeats (across samples, outputs, features) is
differentiated once per shape (:func:`by_shape`). Every derivative is still SymPy's: ``sympy.diff``, or an
activation's own derivative, on the part of the form that holds the symbol."""

from __future__ import annotations

import functools

import sympy as sp

from ..catalogue.sympy_forms import product, total
from .symbols import NetSymbol

__all__ = ["by_shape", "fused_delta", "local_derivative", "loss_derivative", "partial", "parts", "terms_holding"]


def partial(expr, s):
    """∂expr/∂s, fast for the sums of products the layers write (only the terms of a sum and the one
    factor of a product that hold s are differentiated); ``sympy.diff`` for the rest."""
    expr = sp.sympify(expr)
    if expr == s:
        return sp.S.One
    if isinstance(expr, sp.Add):
        return total([partial(t, s) for t in expr.args if s in t.free_symbols])
    if isinstance(expr, sp.Mul):
        inside = [f for f in expr.args if s in f.free_symbols]
        if len(inside) == 1:  # one factor holds s: the others are constants
            rest = [f for f in expr.args if f is not inside[0]]
            return product(*rest) if inside[0] == s else product(*rest, partial(inside[0], s))
    if isinstance(expr, sp.Function) and expr.args == (s,):  # σ(z): its derivative, derived once per σ
        return _rename(_derivative(expr.func), {_AT: s})
    return _diff(expr, s)


def by_shape(fn):
    """``fn(*exprs)`` computed once per shape of its arguments: the arguments' network symbols ranked by name,
    the answer to an argument of the same shape taken from the first one asked, its symbols renamed rank for
    rank without evaluating anything anew. SymPy orders a sum's or a product's arguments by their symbols' names
    (and printed names), so where the ranks keep both orders fn takes the same steps on either and the answer
    is the same expression; where they would not, fn runs on the arguments themselves. One output's ∂C/∂a^L is
    then derived once, not once per sample."""
    seen = {}  # shape -> (answer, the symbols it was derived in, by rank)

    @functools.wraps(fn)
    def shaped(*exprs):
        names = sorted({t for e in exprs for t in e.free_symbols if isinstance(t, NetSymbol)}, key=lambda t: t.name)
        if not names or sorted(names, key=_printed) != names:
            return fn(*exprs)
        rank = {t: i for i, t in enumerate(names)}
        key = (tuple(_shape(e, rank) for e in exprs), tuple(tuple(sorted(t.assumptions0.items())) for t in names))
        if key not in seen:
            if len(seen) >= 4096:
                seen.clear()
            seen[key] = (fn(*exprs), names)
        answer, theirs = seen[key]
        return answer if theirs == names else _rename(answer, dict(zip(theirs, names)))

    return shaped


def _shape(expr, rank):
    """A hashable picture of ``expr`` with its ranked symbols as their ranks (atoms with their type: 2 ≠ 2.0)."""
    r = rank.get(expr)
    if r is not None:
        return ("rank", r)
    if not expr.args:
        return (type(expr), expr)
    return (expr.func, *[_shape(a, rank) for a in expr.args])


def _printed(s):
    """``str(s)`` of a NetSymbol without the printer: its index separators printed as commas (``w0_1,2``)."""
    head, _, idx = s.name.partition("_")
    return f"{head}_{idx.replace('_', ',')}"


def _rename(expr, names):
    """``expr`` with its symbols renamed by ``names`` and nothing evaluated anew (its form is already SymPy's)."""
    if expr in names:
        return names[expr]
    if not expr.args:
        return expr
    args = [_rename(a, names) for a in expr.args]
    if all(a is b for a, b in zip(args, expr.args)):
        return expr
    try:
        return expr.func(*args, evaluate=False)
    except TypeError:  # a node that takes no evaluate keyword (a Piecewise's (expression, condition) pair)
        return expr.func(*args)


@functools.lru_cache(maxsize=4096)
@by_shape
def _diff(expr, s):
    """``sympy.diff`` once per shape (a norm's 1/√(σ² + ε) by σ² once, not once per feature), and once per
    expression (not once per sample)."""
    return sp.diff(expr, s)


@by_shape
def loss_derivative(part, s):
    """∂C/∂s of the loss's ``part`` that holds s, its common factors taken out (1/N)."""
    return sp.factor_terms(sp.diff(part, s))


@by_shape
def fused_delta(part, z, forms, a):
    """δ^L = ∂C/∂z of the loss's ``part`` written in z, with each output's form (σ(z_j), softmax(j, z)) written
    as its a_j, computed once."""
    return sp.factor_terms(sp.diff(part, z)).xreplace(dict(zip(forms, a)))


@by_shape
def local_derivative(form, z, forms, a):
    """∂a_m/∂z_j of the activation's ``form`` of a_m, a non-diagonal Jacobian (softmax) written in the a's."""
    return partial(form, z).xreplace(dict(zip(forms, a)))


_AT = sp.Dummy("t", real=True)


@functools.cache
def _derivative(func):
    """dσ/dt at the dummy t, for a function σ of one argument (an activation's form): sympy.diff asks its
    assumptions anew every time, which costs more than the rest of a layer's backward pass."""
    return sp.diff(func(_AT), _AT)


def terms_holding(exprs, targets):
    """{θ: {i: the part of exprs[i] that holds θ}} for the symbols ``targets``, in one pass over each expression
    (differentiating that part by θ gives ∂exprs[i]/∂θ, without visiting every term of a sum once per θ)."""
    out = {}
    for i, e in enumerate(exprs):
        for theta, part in parts(e, targets).items():
            out.setdefault(theta, {})[i] = part
    return out


def parts(expr, targets):
    """{s: the part of ``expr`` that holds s} for the ``targets``, in one pass over a sum: what differentiating
    by s keeps. ``sympy.diff`` of that part gives the same form as of the whole, without visiting every term
    once per target."""
    expr = sp.sympify(expr)
    if isinstance(expr, sp.Add):
        out = {}
        for t in expr.args:
            for s, part in parts(t, targets).items():
                out.setdefault(s, []).append(part)
        return {s: sp.Add(*parts) for s, parts in out.items()}
    if isinstance(expr, sp.Mul):
        inside = [f for f in expr.args if f.free_symbols & targets]
        if len(inside) == 1:
            rest = [f for f in expr.args if f is not inside[0]]
            return {s: expr if part is inside[0] else sp.Mul(*rest, part)  # the whole product: not built again
                    for s, part in parts(inside[0], targets).items()}
    return {s: expr for s in expr.free_symbols & targets}
