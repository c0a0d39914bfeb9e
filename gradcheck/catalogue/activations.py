"""Activation catalogue: each entry gives σ for NumPy, σ' (or its Jacobian), a SymPy form and its facts.

All NumPy forms accept arrays with any leading axes; ``axis`` is the unit axis
(``-2`` in the column convention, ``-1`` in the row convention), used by softmax only.

The SymPy forms live in :mod:`.sympy_forms` (small ``Function`` classes whose ``fdiff``
returns the textbook derivative), loaded on first use so that SymPy is imported only
when a symbolic form is needed; ``symbolic(zs)`` of an entry loads them.

Everything other modules need to know about an activation is a field of its
:class:`Activation` entry (kinks, where it may stand, the targets it suits, which
known mistakes apply to it): adding an activation means adding one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["ACTIVATIONS", "LEAKY_SLOPE", "SYMPY_NUMPY", "Activation", "log_softmax", "softplus_of"]

LEAKY_SLOPE = 0.01


# The NumPy forms below take the branch from the real part of z (not |z|, not max(z)), so that
# they are analytic in z and also evaluate a complex z = x + i·h, as the complex-step
# finite differences do.

def _sigmoid(z):
    # exp of a number with non-positive real part only: no overflow warnings for large |z|.
    pos = np.real(z) >= 0
    e = np.exp(np.where(pos, -z, z))
    return np.where(pos, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus_of(z):
    """log(1 + exp(z)) without overflow or lost digits: max(z, 0) + log1p(exp(−|z|))."""
    pos = np.real(z) >= 0
    return np.where(pos, z, 0.0) + np.log1p(np.exp(np.where(pos, -z, z)))


def log_softmax(z, axis):
    """log softmax(z) = z − logsumexp(z) along ``axis``, keeping its digits where one z dominates.

    With m the largest real part (at j*), logsumexp(z) = m + log1p(Σ_{j≠j*} exp(z_j − m)):
    the sum is never rounded against the 1 of exp(z_j* − m), so a saturated softmax
    still has log a_j* ≈ −Σ_{j≠j*} exp(z_j − z_j*) to full precision.
    """
    zr = np.real(z)
    top = zr.argmax(axis=axis)
    first = np.arange(z.shape[axis]).reshape((-1,) + (1,) * (-axis - 1)) == np.expand_dims(top, axis)
    m = np.take_along_axis(z, np.expand_dims(top, axis), axis=axis)
    rest = np.where(first, 0.0, np.exp(z - m)).sum(axis=axis, keepdims=True)
    return (z - m) - np.log1p(rest)


def _softmax(z, axis):
    e = np.exp(z - np.real(z).max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_numeric(i, *zs):
    z = np.stack(np.broadcast_arrays(*zs))
    return _softmax(z, 0)[int(i)]


def _log_softmax_numeric(i, *zs):
    return log_softmax(np.stack(np.broadcast_arrays(*zs), axis=-1), -1)[..., int(i)]


#: Functions ``sympy.lambdify`` needs to evaluate the forms above with NumPy.
SYMPY_NUMPY = {
    "sigmoid": _sigmoid,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
    "softplus": softplus_of,
    "softmax": _softmax_numeric,
    "log_softmax": _log_softmax_numeric,
}


@dataclass(frozen=True)
class Activation:
    """One activation σ.

    ``forward(z, axis)`` and ``derivative(z, a)`` work on arrays of any shape;
    ``derivative`` is ``None`` for softmax, whose Jacobian is not diagonal and is
    applied by :meth:`vjp`. ``kinks`` are the z where σ is not differentiable
    (finite differences across them are unreliable). ``symbolic(zs)`` maps a list of
    SymPy z's to the list of a's.

    Facts other modules look up instead of testing names:

    - ``identity``: σ(z) = z (no derivative to forget);
    - ``last_only``: allowed on the last layer only; ``losses``: if not None, the only
      losses it may be used with; ``min_units`` (with ``min_units_why``): the fewest
      units it makes sense on;
    - ``output_range``: (lo, hi) of its values, or None if unbounded (random targets
      are drawn inside it);
    - ``prime_of_a_slip``: σ' is usually written in terms of a, so evaluating σ' at a
      instead of z is a classic mistake;
    - ``text_head``/``latex_head``: its name as printed in formulas;
    - ``kink_text``: where it is not differentiable, in words ("relu at 0"; "" without kinks).
    """

    name: str
    forward: Callable
    derivative: Callable | None
    symbolic: Callable
    formula: str
    derivative_formula: str
    kinks: tuple[float, ...] = ()
    identity: bool = False
    last_only: bool = False
    losses: tuple[str, ...] | None = None
    min_units: int = 1
    min_units_why: str = ""
    output_range: tuple[float, float] | None = None
    prime_of_a_slip: bool = False
    text_head: str = ""
    latex_head: str = ""
    kink_text: str = ""

    def __post_init__(self):
        if self.kinks and not self.kink_text:
            object.__setattr__(self, "kink_text", f"{self.name} at {', '.join(f'{k:g}' for k in self.kinks)}")
        if not self.text_head:
            object.__setattr__(self, "text_head", self.name)
        if not self.latex_head:
            object.__setattr__(self, "latex_head", r"\operatorname{%s}" % self.name.replace("_", r"\_"))

    @property
    def elementwise(self):
        """True when a_j depends on z_j only (σ' is a diagonal Jacobian)."""
        return self.derivative is not None

    def vjp(self, g, z, a, axis):
        """δ = ∂C/∂z from g = ∂C/∂a (same shape as z): g ⊙ σ'(z), or the softmax Jacobian."""
        if self.derivative is not None:
            return g * self.derivative(z, a)
        return a * (g - (g * a).sum(axis=axis, keepdims=True))

    def __repr__(self):
        return f"Activation({self.name!r}: a = {self.formula}, da/dz = {self.derivative_formula})"


def _elementwise(name):
    def forms(zs):
        from .sympy_forms import FORMS
        return [FORMS[name](z) for z in zs]
    return forms


def _softmax_forms(zs):
    from .sympy_forms import softmax
    return [softmax(i, *zs) for i in range(len(zs))]


def __getattr__(name):
    """The SymPy functions (``sigmoid``, ``softmax``, ...) are loaded from :mod:`.sympy_forms` on first use."""
    if name in ("NetFunctionBase", "sigmoid", "relu", "leaky_relu", "softplus", "softmax"):
        from . import sympy_forms
        return getattr(sympy_forms, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("linear", lambda z, axis=-2: z, lambda z, a: np.ones_like(z),
                   _elementwise("linear"), "z", "1", identity=True),
        Activation("sigmoid", lambda z, axis=-2: _sigmoid(z), lambda z, a: a * (1.0 - a),
                   _elementwise("sigmoid"), "σ(z) = 1/(1+exp(-z))", "σ(z)(1 − σ(z))",
                   output_range=(0.0, 1.0), prime_of_a_slip=True, text_head="σ", latex_head=r"\sigma"),
        Activation("tanh", lambda z, axis=-2: np.tanh(z), lambda z, a: 1.0 - a * a,
                   _elementwise("tanh"), "tanh(z)", "1 − tanh²(z)",
                   output_range=(-1.0, 1.0), prime_of_a_slip=True, latex_head=r"\tanh"),
        Activation("relu", lambda z, axis=-2: np.maximum(z, 0.0),
                   lambda z, a: (z > 0).astype(z.dtype),
                   _elementwise("relu"), "max(0, z)", "[z > 0]", kinks=(0.0,)),
        Activation("leaky_relu", lambda z, axis=-2: np.where(z > 0, z, LEAKY_SLOPE * z),
                   lambda z, a: np.where(z > 0, 1.0, LEAKY_SLOPE),
                   _elementwise("leaky_relu"), f"z if z > 0 else {LEAKY_SLOPE}·z",
                   f"1 if z > 0 else {LEAKY_SLOPE}", kinks=(0.0,)),
        Activation("softplus", lambda z, axis=-2: softplus_of(z),
                   lambda z, a: _sigmoid(z),
                   _elementwise("softplus"), "log(1 + exp(z))", "σ(z)", prime_of_a_slip=True),
        Activation("softmax", _softmax, None,
                   _softmax_forms,
                   "exp(z_i) / Σ_j exp(z_j)", "a_i([i = j] − a_j)", last_only=True, losses=("cross_entropy",),
                   min_units=2, min_units_why="softmax over 1 unit is always 1 (its gradient is 0); use 2 or more "
                                              "units, or sigmoid with loss bce",
                   output_range=(0.0, 1.0)),
    ]
}
