"""The catalogue's SymPy functions: σ, relu, leaky_relu, elu, selu, gelu, softplus, softmax and a pooling
window's max as ``sympy.Function`` classes.

Their ``fdiff`` returns the textbook derivative (σ(1−σ), [z>0]) so derivations read as a
learner writes them, instead of ``exp(-z)/(1+exp(-z))**2``. Each carries ``text_head``
and ``latex_head`` (how its name is printed) and ``index_args`` (how many leading
arguments are indices or parameters rather than operands: softmax's i, leaky_relu's slope), so printers need
no names. A parameterised activation carries its parameters as leading arguments (``leaky_relu(0.2, z)``,
printed ``leaky_relu_0.2(z)``), so that its derivative and its NumPy evaluation use the layer's values.
This module is imported only when a symbolic form is needed: SymPy stays out of a
check that does not use it.
"""

from __future__ import annotations

import sympy as sp
from sympy.core.basic import _args_sortkey

from .special import SELU_ALPHA, SELU_LAMBDA

__all__ = ["FORMS", "NetFunctionBase", "Phi", "elementary", "elu", "gelu", "gelu_tanh", "hinge", "hinge_prime",
           "is_window_max", "leaky_relu", "log_softmax", "product", "relu", "selu", "sigmoid", "softmax", "softplus",
           "total", "window_max"]


def product(*factors):
    """``sympy.Mul(*factors)``, the same expression, built directly where SymPy's product would only put the
    factors in order behind their rational coefficient: no other number, none sharing a base with another
    (x·x², e^x·e^y combine). SymPy's general product costs tens of microseconds the first time, and a network
    holds a few per weight."""
    flat, coeff = [], sp.S.One
    for f in factors:
        for g in f.args if f.is_Mul else (f,):
            if g.is_Rational:
                coeff *= g
            else:
                flat.append(g)
    if not flat or coeff.is_zero:
        return sp.Mul(*factors)
    if any(not isinstance(f, sp.Expr) or f.is_number or f.is_Mul or not f.is_commutative for f in flat):
        return sp.Mul(*factors)
    if len(flat) == 1:
        if coeff is sp.S.One:
            return flat[0]
        if flat[0].is_Add:  # a coefficient times one sum is distributed over its terms
            if any(t.is_number or (t.is_Mul and any(g.is_Add for g in t.args)) for t in flat[0].args):
                return sp.Mul(*factors)
            return total([product(coeff, t) for t in flat[0].args])
        return sp.Mul._from_args([coeff, flat[0]], is_commutative=True)
    bases = {f.as_base_exp()[0] for f in flat}
    if len(bases) < len(flat) or any(b.is_number for b in bases):
        return sp.Mul(*factors)
    flat.sort(key=_args_sortkey)
    return sp.Mul._from_args(flat if coeff is sp.S.One else [coeff, *flat], is_commutative=True)


def total(terms):
    """``sympy.Add(*terms)``, the same expression, built directly where SymPy's sum would only put the terms in
    order: none a number or a sum, no two alike but for their coefficient (x and 2·x combine)."""
    terms = [t for t in terms if t is not sp.S.Zero]
    if len(terms) < 2:
        return terms[0] if terms else sp.S.Zero
    if any(not isinstance(t, sp.Expr) or t.is_number or t.is_Add or not t.is_commutative for t in terms):
        return sp.Add(*terms)
    if len({t.as_coeff_Mul()[1] for t in terms}) < len(terms):
        return sp.Add(*terms)
    return sp.Add._from_args(sorted(terms, key=_args_sortkey), is_commutative=True)


def exact(x):
    """A float as a SymPy number that prints as the float does and evaluates back to it exactly (1.0 as 1)."""
    x = float(x)
    return sp.Integer(int(x)) if x.is_integer() else sp.Float(repr(x), 17)


class NetFunctionBase(sp.Function):
    # SymPy's printers dispatch a Function subclass to a base class's _print_ method only when that base's
    # name ends in "Base": hence the name.
    """Base of the catalogue's SymPy functions: printed as ``text_head(…)`` / ``latex_head\\left(…\\right)``."""

    text_head = ""
    latex_head = ""
    index_args = 0  # leading arguments that are indices, not operands

    def _latex(self, printer):
        return r"%s\left(%s\right)" % (self.latex_head, ", ".join(printer._print(a) for a in self.args))

    def subscript(self):
        """The leading arguments as printed below the head (softmax's i)."""
        return ",".join(str(a) for a in self.args[:self.index_args])

    def elementary(self):
        """The same function written in SymPy's own functions (exp, log, tanh, erf, Max, Piecewise), which
        ``evalf`` evaluates to any precision (see :func:`elementary`)."""
        raise NotImplementedError(f"{type(self).__name__} has no elementary form")


def elementary(expr):
    """``expr`` with every catalogue function written in SymPy's own (:meth:`NetFunctionBase.elementary`), so that
    ``evalf`` gives its value to any precision.

    >>> import sympy as sp
    >>> elementary(sigmoid(sp.Symbol("z")) + relu(sp.Symbol("z")))
    Piecewise((z, z > 0), (0, True)) + 1/(1 + exp(-z))
    """
    return expr.replace(lambda e: isinstance(e, NetFunctionBase), lambda e: e.elementary())


class ParamFunctionBase(NetFunctionBase):
    """An activation with parameters: ``f(p_1, …, z)`` printed ``f_{p_1,…}(z)``; differentiated in z only."""

    index_args = 1

    def subscript(self):
        return ",".join(repr(float(a)) for a in self.args[:self.index_args])

    def _sympystr(self, printer):
        return "%s_%s(%s)" % (self.text_head, self.subscript(), printer._print(self.args[-1]))

    def _latex(self, printer):
        return r"%s_{%s}\left(%s\right)" % (self.latex_head, self.subscript(), printer._print(self.args[-1]))

    def fdiff(self, argindex=1):
        if argindex != len(self.args):
            raise sp.ArgumentIndexError(self, argindex)
        return self.prime(*self.args)


class sigmoid(NetFunctionBase):  # noqa: N801 - printed name
    """σ(z) = 1/(1+e^{-z}); dσ/dz = σ(z)(1−σ(z))."""

    text_head, latex_head = "σ", r"\sigma"

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))

    def _sympystr(self, printer):
        return "σ(%s)" % printer._print(self.args[0])

    def elementary(self):
        return self._eval_rewrite_as_exp(*self.args)


class relu(NetFunctionBase):  # noqa: N801
    """relu(z) = max(0, z); d/dz = [z > 0] (0 at the kink z = 0, as NumPy code does)."""

    text_head, latex_head = "relu", r"\operatorname{relu}"

    def fdiff(self, argindex=1):
        return sp.Piecewise((1, self.args[0] > 0), (0, True))

    def elementary(self):
        z = self.args[0]
        return sp.Piecewise((z, z > 0), (0, True))


class leaky_relu(ParamFunctionBase):  # noqa: N801
    """leaky_relu(s, z) = z if z > 0 else s·z; d/dz = 1 if z > 0 else s."""

    text_head, latex_head = "leaky_relu", r"\operatorname{leaky\_relu}"

    @staticmethod
    def prime(slope, z):
        return sp.Piecewise((1, z > 0), (slope, True))

    def elementary(self):
        slope, z = self.args
        return sp.Piecewise((z, z > 0), (slope * z, True))


class elu(ParamFunctionBase):  # noqa: N801
    """elu(α, z) = z if z > 0 else α(e^z − 1); d/dz = 1 if z > 0 else α·e^z."""

    text_head, latex_head = "elu", r"\operatorname{elu}"

    @staticmethod
    def prime(alpha, z):
        return sp.Piecewise((1, z > 0), (alpha * sp.exp(z), True))

    def _eval_rewrite_as_exp(self, alpha, z, **kwargs):
        return sp.Piecewise((z, z > 0), (alpha * (sp.exp(z) - 1), True))

    def elementary(self):
        return self._eval_rewrite_as_exp(*self.args)


class selu(NetFunctionBase):  # noqa: N801
    """selu(z) = λ·(z if z > 0 else α(e^z − 1)); d/dz = λ if z > 0 else λα·e^z (λ, α: SELU's constants)."""

    text_head, latex_head = "selu", r"\operatorname{selu}"

    def fdiff(self, argindex=1):
        z = self.args[0]
        return sp.Piecewise((exact(SELU_LAMBDA), z > 0), (exact(SELU_LAMBDA * SELU_ALPHA) * sp.exp(z), True))

    def elementary(self):
        z = self.args[0]
        return exact(SELU_LAMBDA) * sp.Piecewise((z, z > 0), (exact(SELU_ALPHA) * (sp.exp(z) - 1), True))


class Phi(NetFunctionBase):
    """Φ(z) = (1 + erf(z/√2))/2, the standard normal distribution function; dΦ/dz = φ(z) = e^{−z²/2}/√(2π)."""

    text_head, latex_head = "Φ", r"\Phi"

    def fdiff(self, argindex=1):
        z = self.args[0]
        return sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)

    def _eval_rewrite_as_erf(self, z, **kwargs):
        return (1 + sp.erf(z / sp.sqrt(2))) / 2

    def _sympystr(self, printer):
        return "Φ(%s)" % printer._print(self.args[0])

    def elementary(self):
        return self._eval_rewrite_as_erf(*self.args)


class gelu(NetFunctionBase):  # noqa: N801
    """gelu(z) = z·Φ(z) (the exact form); d/dz = Φ(z) + z·φ(z)."""

    text_head, latex_head = "gelu", r"\operatorname{gelu}"

    def fdiff(self, argindex=1):
        z = self.args[0]
        return Phi(z) + z * Phi(z).fdiff()

    def elementary(self):
        z = self.args[0]
        return z * Phi(z).elementary()


def _gelu_u(z):
    return sp.sqrt(2 / sp.pi) * (z + sp.Rational(44715, 10**6) * z**3)


def _gelu_du(z):
    """du/dz, written out: z may be an expression (an rnn's pre-activation), which SymPy cannot differentiate by."""
    return sp.sqrt(2 / sp.pi) * (1 + 3 * sp.Rational(44715, 10**6) * z**2)


class gelu_tanh(NetFunctionBase):  # noqa: N801
    """gelu_tanh(z) = z·(1 + tanh(u))/2, u = √(2/π)(z + 0.044715z³); d/dz = (1 + tanh u)/2 + z(1 − tanh²u)·u'/2."""

    text_head, latex_head = "gelu_tanh", r"\operatorname{gelu\_tanh}"

    def fdiff(self, argindex=1):
        z = self.args[0]
        t = sp.tanh(_gelu_u(z))
        return (1 + t) / 2 + z * (1 - t**2) * _gelu_du(z) / 2

    def _eval_rewrite_as_tanh(self, z, **kwargs):
        return z * (1 + sp.tanh(_gelu_u(z))) / 2

    def elementary(self):
        return self._eval_rewrite_as_tanh(*self.args)


class softplus(NetFunctionBase):  # noqa: N801
    """softplus(z) = log(1+e^z); d/dz = σ(z)."""

    text_head, latex_head = "softplus", r"\operatorname{softplus}"

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return sp.log(1 + sp.exp(z))

    def elementary(self):
        return self._eval_rewrite_as_exp(*self.args)


class softmax(NetFunctionBase):  # noqa: N801
    """softmax(i, z_0, …, z_{K-1}) = e^{z_i}/Σ_j e^{z_j}; ∂/∂z_j = a_i([i=j] − a_j)."""

    text_head, latex_head, index_args = "softmax", r"\operatorname{softmax}", 1

    def fdiff(self, argindex=1):
        if argindex == 1:
            raise sp.ArgumentIndexError(self, argindex)
        i, zs = self.args[0], self.args[1:]
        j = argindex - 2
        return self * (sp.KroneckerDelta(i, j) - softmax(j, *zs))

    def _eval_rewrite_as_exp(self, i, *zs, **kwargs):
        return sp.exp(zs[int(i)]) / sum(sp.exp(z) for z in zs)

    def _latex(self, printer):
        i = printer._print(self.args[0])
        zs = ", ".join(printer._print(z) for z in self.args[1:])
        return r"\operatorname{softmax}_{%s}\left(%s\right)" % (i, zs)

    def elementary(self):
        return self._eval_rewrite_as_exp(*self.args)


class log_softmax(NetFunctionBase):  # noqa: N801
    """log_softmax(i, z_0, …, z_{K-1}) = z_i − log Σ_j e^{z_j}; ∂/∂z_j = [i=j] − softmax(j, z).

    Cross-entropy on a softmax written in z: its derivative never divides by a saturated a_i.
    """

    text_head, latex_head, index_args = "log_softmax", r"\operatorname{log\_softmax}", 1

    def fdiff(self, argindex=1):
        if argindex == 1:
            raise sp.ArgumentIndexError(self, argindex)
        i, zs = self.args[0], self.args[1:]
        return sp.KroneckerDelta(i, argindex - 2) - softmax(argindex - 2, *zs)

    def _eval_rewrite_as_exp(self, i, *zs, **kwargs):
        return zs[int(i)] - sp.log(sum(sp.exp(z) for z in zs))

    def elementary(self):
        return self._eval_rewrite_as_exp(*self.args)


#: Activation name -> the SymPy function of one z (softmax: of an index and every z).
FORMS = {"linear": lambda z: z, "sigmoid": sigmoid, "tanh": sp.tanh, "relu": relu,
         "leaky_relu": lambda z, slope: leaky_relu(exact(slope), z), "softplus": softplus, "softmax": softmax,
         "elu": lambda z, alpha: elu(exact(alpha), z), "selu": selu, "gelu": gelu, "gelu_tanh": gelu_tanh}


class window_max(NetFunctionBase):  # noqa: N801 - printed name
    """max(x_0, …, x_{k-1}) of one pooling window; ∂/∂x_i = [x_i is the window's first maximum]."""

    text_head, latex_head = "max", r"\max"

    def fdiff(self, argindex=1):
        return is_window_max(argindex - 1, *self.args)

    def elementary(self):
        return sp.Max(*self.args)


class is_window_max(NetFunctionBase):  # noqa: N801
    """is_window_max(i, x_0, …): 1 where x_i is the first maximum of the window, else 0 (as the reference
    backprop routes the gradient: one element per window, the first on a tie)."""

    index_args = 1

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _sympystr(self, printer):
        i, xs = self.args[0], self.args[1:]
        return "[%s = max(%s)]" % (printer._print(xs[int(i)]), ", ".join(printer._print(x) for x in xs))

    def _latex(self, printer):
        i, xs = self.args[0], self.args[1:]
        return r"\left[%s = \max\left(%s\right)\right]" % (printer._print(xs[int(i)]),
                                                            ", ".join(printer._print(x) for x in xs))

    def elementary(self):
        i, xs = int(self.args[0]), self.args[1:]
        first = min(range(len(xs)), key=lambda k: (-xs[k], k))  # the first maximum, as the backprop routes it
        return sp.S.One if i == first else sp.S.Zero


class hinge(NetFunctionBase):  # noqa: N801
    """hinge(m) = max(0, m), the multiclass SVM's term; d/dm = hinge'(m) = [m > 0] (0 at the kink m = 0, as CS231n's
    NumPy code has it). A number evaluates to max(0, m); ``rewrite(sp.Max)`` and plain NumPy lambdify know it."""

    text_head, latex_head = "hinge", r"\operatorname{hinge}"

    @classmethod
    def eval(cls, m):
        if m.is_number:
            return sp.Max(0, m)
        return None

    def fdiff(self, argindex=1):
        return hinge_prime(self.args[0])

    def _eval_rewrite_as_Max(self, m, **kwargs):  # noqa: N802 - SymPy's rewrite hook names
        return sp.Max(0, m)

    def _eval_rewrite_as_Piecewise(self, m, **kwargs):  # noqa: N802
        return sp.Piecewise((m, m > 0), (0, True))

    def _numpycode(self, printer):
        return "numpy.maximum(%s, 0.0)" % printer._print(self.args[0])

    def elementary(self):
        return self._eval_rewrite_as_Max(*self.args)


class hinge_prime(NetFunctionBase):  # noqa: N801
    """hinge'(m) = [m > 0]; its own derivative is 0 wherever it has one."""

    text_head, latex_head = "hinge'", r"\operatorname{hinge}'"

    @classmethod
    def eval(cls, m):
        if m.is_number and m.is_extended_real:
            return sp.S.One if m > 0 else sp.S.Zero
        return None

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _eval_rewrite_as_Piecewise(self, m, **kwargs):  # noqa: N802
        return sp.Piecewise((1, m > 0), (0, True))

    def _eval_rewrite_as_Heaviside(self, m, **kwargs):  # noqa: N802
        return sp.Heaviside(m, 0)

    def _numpycode(self, printer):
        return "numpy.heaviside(%s, 0.0)" % printer._print(self.args[0])

    def elementary(self):
        return self._eval_rewrite_as_Piecewise(*self.args)
