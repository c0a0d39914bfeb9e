"""The catalogue's SymPy functions: σ, relu, leaky_relu, softplus, softmax and a pooling window's max as
``sympy.Function`` classes.

Their ``fdiff`` returns the textbook derivative (σ(1−σ), [z>0]) so derivations read as a
learner writes them, instead of ``exp(-z)/(1+exp(-z))**2``. Each carries ``text_head``
and ``latex_head`` (how its name is printed) and ``index_args`` (how many leading
arguments are indices rather than operands: softmax's i), so printers need no names.
This module is imported only when a symbolic form is needed: SymPy stays out of a
check that does not use it.
"""

from __future__ import annotations

import sympy as sp

from .activations import LEAKY_SLOPE

__all__ = ["FORMS", "NetFunctionBase", "hinge", "hinge_prime", "is_window_max", "leaky_relu", "log_softmax", "relu",
           "sigmoid", "softmax", "softplus", "window_max"]


class NetFunctionBase(sp.Function):
    # SymPy's printers dispatch a Function subclass to a base class's _print_ method only when that base's
    # name ends in "Base": hence the name.
    """Base of the catalogue's SymPy functions: printed as ``text_head(…)`` / ``latex_head\\left(…\\right)``."""

    text_head = ""
    latex_head = ""
    index_args = 0  # leading arguments that are indices, not operands

    def _latex(self, printer):
        return r"%s\left(%s\right)" % (self.latex_head, ", ".join(printer._print(a) for a in self.args))


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


class relu(NetFunctionBase):  # noqa: N801
    """relu(z) = max(0, z); d/dz = [z > 0] (0 at the kink z = 0, as NumPy code does)."""

    text_head, latex_head = "relu", r"\operatorname{relu}"

    def fdiff(self, argindex=1):
        return sp.Piecewise((1, self.args[0] > 0), (0, True))


class leaky_relu(NetFunctionBase):  # noqa: N801
    """leaky_relu(z) = z if z > 0 else 0.01·z; d/dz = 1 if z > 0 else 0.01."""

    text_head, latex_head = "leaky_relu", r"\operatorname{leaky\_relu}"

    def fdiff(self, argindex=1):
        return sp.Piecewise((1, self.args[0] > 0), (sp.Float(LEAKY_SLOPE), True))


class softplus(NetFunctionBase):  # noqa: N801
    """softplus(z) = log(1+e^z); d/dz = σ(z)."""

    text_head, latex_head = "softplus", r"\operatorname{softplus}"

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return sp.log(1 + sp.exp(z))


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


#: Activation name -> the SymPy function of one z (softmax: of an index and every z).
FORMS = {"linear": lambda z: z, "sigmoid": sigmoid, "tanh": sp.tanh, "relu": relu, "leaky_relu": leaky_relu,
         "softplus": softplus, "softmax": softmax}


class window_max(NetFunctionBase):  # noqa: N801 - printed name
    """max(x_0, …, x_{k-1}) of one pooling window; ∂/∂x_i = [x_i is the window's first maximum]."""

    text_head, latex_head = "max", r"\max"

    def fdiff(self, argindex=1):
        return is_window_max(argindex - 1, *self.args)


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
