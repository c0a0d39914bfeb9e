"""Activation catalogue: each entry gives σ for NumPy, σ' (or its Jacobian) and a SymPy form.

All NumPy forms accept arrays with any leading axes; ``axis`` is the unit axis
(``-2`` in the column convention, ``-1`` in the row convention), used by softmax only.

The SymPy forms are small ``Function`` classes whose ``fdiff`` returns the textbook
derivative (σ(1−σ), 1−tanh², [z>0]) so derivations read as a learner writes them,
instead of ``exp(-z)/(1+exp(-z))**2`` or ``1/(4·cosh²(z/2))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp

__all__ = ["ACTIVATIONS", "LEAKY_SLOPE", "SYMPY_NUMPY", "Activation"]

LEAKY_SLOPE = 0.01


def _sigmoid(z):
    # exp of a non-positive number only: no overflow warnings for large |z|.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


class sigmoid(sp.Function):  # noqa: N801 - printed name
    """σ(z) = 1/(1+e^{-z}); dσ/dz = σ(z)(1−σ(z))."""

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))

    def _latex(self, printer):
        return r"\sigma\left(%s\right)" % printer._print(self.args[0])

    def _sympystr(self, printer):
        return "σ(%s)" % printer._print(self.args[0])


class relu(sp.Function):  # noqa: N801
    """relu(z) = max(0, z); d/dz = [z > 0] (0 at the kink z = 0, as NumPy code does)."""

    def fdiff(self, argindex=1):
        return sp.Piecewise((1, self.args[0] > 0), (0, True))

    def _latex(self, printer):
        return r"\operatorname{relu}\left(%s\right)" % printer._print(self.args[0])


class leaky_relu(sp.Function):  # noqa: N801
    """leaky_relu(z) = z if z > 0 else 0.01·z; d/dz = 1 if z > 0 else 0.01."""

    def fdiff(self, argindex=1):
        return sp.Piecewise((1, self.args[0] > 0), (sp.Float(LEAKY_SLOPE), True))

    def _latex(self, printer):
        return r"\operatorname{leaky\_relu}\left(%s\right)" % printer._print(self.args[0])


class softplus(sp.Function):  # noqa: N801
    """softplus(z) = log(1+e^z); d/dz = σ(z)."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return sp.log(1 + sp.exp(z))

    def _latex(self, printer):
        return r"\operatorname{softplus}\left(%s\right)" % printer._print(self.args[0])


class softmax(sp.Function):  # noqa: N801
    """softmax(i, z_0, …, z_{K-1}) = e^{z_i}/Σ_j e^{z_j}; ∂/∂z_j = a_i([i=j] − a_j)."""

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


def _softmax_numeric(i, *zs):
    z = np.stack(np.broadcast_arrays(*zs))
    return _softmax(z, 0)[int(i)]


#: Functions ``sympy.lambdify`` needs to evaluate the forms above with NumPy.
SYMPY_NUMPY = {
    "sigmoid": _sigmoid,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
    "softplus": lambda z: np.logaddexp(0.0, z),
    "softmax": _softmax_numeric,
}


@dataclass(frozen=True)
class Activation:
    """One activation σ.

    ``forward(z, axis)`` and ``derivative(z, a)`` work on arrays of any shape;
    ``derivative`` is ``None`` for softmax, whose Jacobian is not diagonal and is
    applied by :meth:`vjp`. ``kinks`` are the z where σ is not differentiable
    (finite differences across them are unreliable). ``symbolic(zs)`` maps a list of
    SymPy z's to the list of a's.
    """

    name: str
    forward: Callable
    derivative: Callable | None
    symbolic: Callable
    formula: str
    derivative_formula: str
    kinks: tuple[float, ...] = ()

    def vjp(self, g, z, a, axis):
        """δ = ∂C/∂z from g = ∂C/∂a (same shape as z): g ⊙ σ'(z), or the softmax Jacobian."""
        if self.derivative is not None:
            return g * self.derivative(z, a)
        return a * (g - (g * a).sum(axis=axis, keepdims=True))

    def __repr__(self):
        return f"Activation({self.name!r}: a = {self.formula}, da/dz = {self.derivative_formula})"


def _elementwise(fn):
    return lambda zs: [fn(z) for z in zs]


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("linear", lambda z, axis=-2: z, lambda z, a: np.ones_like(z),
                   _elementwise(lambda z: z), "z", "1"),
        Activation("sigmoid", lambda z, axis=-2: _sigmoid(z), lambda z, a: a * (1.0 - a),
                   _elementwise(sigmoid), "σ(z) = 1/(1+exp(-z))", "σ(z)(1 − σ(z))"),
        Activation("tanh", lambda z, axis=-2: np.tanh(z), lambda z, a: 1.0 - a * a,
                   _elementwise(sp.tanh), "tanh(z)", "1 − tanh²(z)"),
        Activation("relu", lambda z, axis=-2: np.maximum(z, 0.0),
                   lambda z, a: (z > 0).astype(z.dtype),
                   _elementwise(relu), "max(0, z)", "[z > 0]", kinks=(0.0,)),
        Activation("leaky_relu", lambda z, axis=-2: np.where(z > 0, z, LEAKY_SLOPE * z),
                   lambda z, a: np.where(z > 0, 1.0, LEAKY_SLOPE),
                   _elementwise(leaky_relu), f"z if z > 0 else {LEAKY_SLOPE}·z",
                   f"1 if z > 0 else {LEAKY_SLOPE}", kinks=(0.0,)),
        Activation("softplus", lambda z, axis=-2: np.logaddexp(0.0, z),
                   lambda z, a: _sigmoid(z),
                   _elementwise(softplus), "log(1 + exp(z))", "σ(z)"),
        Activation("softmax", _softmax, None,
                   lambda zs: [softmax(i, *zs) for i in range(len(zs))],
                   "exp(z_i) / Σ_j exp(z_j)", "a_i([i = j] − a_j)"),
    ]
}
