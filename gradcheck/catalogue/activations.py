"""Activation catalogue: each entry gives σ for NumPy, σ' (or its Jacobian), a SymPy form and its facts.

All NumPy forms accept arrays with any leading axes; ``axis`` is the unit axis
(``-2`` in the column convention, ``-1`` in the row convention), used by softmax only.

The SymPy forms live in :mod:`.sympy_forms` (small ``Function`` classes whose ``fdiff``
returns the textbook derivative), loaded on first use so that SymPy is imported only
when a symbolic form is needed; ``symbolic(zs)`` of an entry loads them.

Everything other modules need to know about an activation is a field of its
:class:`Activation` entry (kinks, where it may stand, the targets it suits, which
known mistakes apply to it): adding an activation means adding one entry here.

An activation with parameters (leaky_relu's ``slope``, elu's ``alpha``: JSON keys of the
layer that names it, listed with their ranges in :data:`ACTIVATION_KEYS`) is made by a
``make_*`` function of them; its entry holds the defaults and ``configured(**values)``
gives the entry for a layer's values, which every form and formula then uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from .special import SELU_ALPHA, SELU_LAMBDA, normal_cdf, normal_pdf

__all__ = ["ACTIVATIONS", "ACTIVATION_KEYS", "SELU_ALPHA", "SELU_LAMBDA", "SYMPY_NUMPY", "Activation", "log_softmax",
           "softplus_of"]

_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715


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
    top = np.expand_dims(np.real(z).argmax(axis=axis), axis)
    d = z - np.take_along_axis(z, top, axis=axis)
    e = np.exp(d)
    np.put_along_axis(e, top, 0.0, axis=axis)  # the sum over j ≠ j*: exp(0) = 1 is the log1p's own 1
    return d - np.log1p(e.sum(axis=axis, keepdims=True))


def _softmax(z, axis):
    e = np.exp(z - np.real(z).max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_numeric(i, *zs):
    z = np.stack(np.broadcast_arrays(*zs))
    return _softmax(z, 0)[int(i)]


def _log_softmax_numeric(i, *zs):
    return log_softmax(np.stack(np.broadcast_arrays(*zs), axis=-1), -1)[..., int(i)]


def _leaky_relu(z, slope):
    return np.where(np.real(z) > 0, z, slope * z)


def _elu(z, alpha):
    pos = np.real(z) > 0
    return np.where(pos, z, alpha * np.expm1(np.where(pos, 0.0, z)))


def _selu(z):
    return SELU_LAMBDA * _elu(z, SELU_ALPHA)


def _gelu(z):
    return z * normal_cdf(z)


def _gelu_tanh(z):
    return 0.5 * z * (1.0 + np.tanh(_GELU_C * (z + _GELU_K * z**3)))


def _gelu_tanh_prime(z):
    t = np.tanh(_GELU_C * (z + _GELU_K * z**3))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _GELU_C * (1.0 + 3.0 * _GELU_K * z * z)


#: Functions ``sympy.lambdify`` needs to evaluate the forms above with NumPy (a parameterised activation's
#: SymPy function carries its parameters as leading arguments: ``leaky_relu(slope, z)``).
SYMPY_NUMPY = {
    "sigmoid": _sigmoid,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda slope, z: _leaky_relu(z, slope),
    "softplus": softplus_of,
    "softmax": _softmax_numeric,
    "log_softmax": _log_softmax_numeric,
    "elu": lambda alpha, z: _elu(z, alpha),
    "selu": _selu,
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
    "Phi": normal_cdf,
}

#: JSON keys an activation may take from the layer that names it, with the (lo, hi) of their values.
ACTIVATION_KEYS = {"alpha": (0.0, 100.0), "slope": (0.0, 100.0)}


@dataclass(frozen=True)
class Activation:
    """One activation σ.

    ``forward(z, axis)`` and ``derivative(z, a)`` work on arrays of any shape;
    ``derivative`` is ``None`` for softmax, whose Jacobian is not diagonal and is
    applied by :meth:`vjp`. ``kinks`` are the z where σ is not analytic: not differentiable,
    or (elu with α = 1) not twice; finite differences across them are unreliable either way.
    ``symbolic(zs)`` maps a list of SymPy z's to the list of a's.

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
    - ``kink_text``: where it is not differentiable, in words ("relu at 0"; "" without kinks);
    - ``params``: its parameters as ((JSON key, value), ...), read from the layer that names it
      (``{"activation": "leaky_relu", "slope": 0.2}``); the entry in :data:`ACTIVATIONS` holds the
      defaults and :meth:`configured` gives the entry for other values (``make(**values)``);
    - ``slips``: parameter values a backward pass is often written with instead of the layer's own
      (a library's default slope), each ((key, value), ...);
    - ``wrong_primes``: σ' as it is often written wrong, each (key, what it is in words, fn(z, a)):
      gelu's Φ(z) without the product rule's z·φ(z), the tanh form's derivative for the exact one;
    - ``entry_seconds``: what its NumPy forward costs per entry beyond a plain pass over the entries (one core;
      a check's time estimate): tanh about a nanosecond, gelu's erfc seventy; ``row_reductions``: the
      reductions it makes per row of its units (softmax: the max and the sum).
    """

    name: str
    forward: Callable
    derivative: Callable | None
    symbolic: Callable
    formula: str
    derivative_formula: str
    kinks: tuple[float, ...] = ()
    #: True when σ is differentiable at its kinks, only a higher derivative jumping there (elu with α = 1): the
    #: complex step passes them, finite differences of real steps do not.
    differentiable_kinks: bool = False
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
    params: tuple = ()
    make: Callable | None = None
    slips: tuple = ()
    wrong_primes: tuple = ()
    entry_seconds: float = 0.0
    row_reductions: int = 0
    #: ``derivative_rounding(z, a)``: how far σ'(z) computed in float64 the usual way may be off, in units of ε
    #: (None: |σ'| + 1, an absolute ε wherever it is used, as 1 − a cancels where σ saturates at 1).
    derivative_rounding: Callable | None = None
    #: ``output_rounding(z, a)``: how far its forward form's a may be from σ(z) beyond ε·|a|, in units of ε, where
    #: the form cancels (None: ε·|a| only): gelu_tanh's 1 + tanh(u) where z ≪ 0, good to ε absolute, not relative.
    output_rounding: Callable | None = None

    def __post_init__(self):
        if self.kinks and not self.kink_text:
            object.__setattr__(self, "kink_text", f"{self.name} at {', '.join(f'{k:g}' for k in self.kinks)}")
        if not self.text_head:
            object.__setattr__(self, "text_head", self.name)
        if not self.latex_head:
            object.__setattr__(self, "latex_head", r"\operatorname{%s}" % self.name.replace("_", r"\_"))

    @property
    def settings(self):
        """{key: value} of its parameters ({} for most activations)."""
        return dict(self.params)

    @property
    def label(self):
        """Its name with its parameters: ``leaky_relu(slope=0.2)``, ``tanh``."""
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.params)})" if self.params else self.name

    def call(self, arg="z", prime=False):
        """How a formula applies it (or σ' with ``prime``): ``relu(z)``, ``leaky_relu'(z, slope=0.2)``."""
        params = "".join(f", {k}={v!r}" for k, v in self.params)
        tick = "'" if prime else ""
        return f"{self.name}{tick}({arg}{params})"

    def configured(self, **values):
        """The entry with these parameter values (the others as they are here); unknown keys raise KeyError."""
        unknown = set(values) - set(self.settings)
        if unknown:
            raise KeyError(f"{self.name} takes no {', '.join(sorted(unknown))}")
        merged = tuple((k, float(values.get(k, v))) for k, v in self.params)
        return self if merged == self.params else _configured(self.name, merged)

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


def _elementwise(name, *params):
    def forms(zs):
        from .sympy_forms import FORMS
        return [FORMS[name](z, *params) for z in zs]
    return forms


@lru_cache(maxsize=256)
def _configured(name, params):
    return ACTIVATIONS[name].make(**dict(params))


def make_leaky_relu(slope=0.01):
    """leaky_relu with negative-side slope ``slope``."""
    s = repr(slope)
    return Activation("leaky_relu", lambda z, axis=-2: _leaky_relu(z, slope),
                      lambda z, a: np.where(z > 0, 1.0, slope),
                      _elementwise("leaky_relu", slope), f"z if z > 0 else {s}·z", f"1 if z > 0 else {s}",
                      kinks=(0.0,), params=(("slope", slope),), make=make_leaky_relu,
                      slips=tuple((("slope", v),) for v in (0.01, 0.1, 0.2, 0.3, 0.0) if v != slope),
                      entry_seconds=5e-9)


def make_elu(alpha=1.0):
    """elu: z for z > 0, α(exp(z) − 1) below; σ' = 1 above and α·exp(z) = a + α below: a kink at 0, and with α = 1
    still a jump of σ'' there (0 above, 1 below), which bends every finite difference across it as a kink does."""
    s = repr(alpha)
    return Activation("elu", lambda z, axis=-2: _elu(z, alpha),
                      lambda z, a: np.where(z > 0, 1.0, a + alpha),
                      _elementwise("elu", alpha), f"z if z > 0 else {s}·(exp(z) − 1)",
                      f"1 if z > 0 else {s}·exp(z) = a + {s}", kinks=(0.0,),
                      kink_text="elu at 0, where its second derivative jumps" if alpha == 1 else "",
                      differentiable_kinks=alpha == 1,
                      prime_of_a_slip=True, params=(("alpha", alpha),), make=make_elu,
                      slips=() if alpha == 1 else ((("alpha", 1.0),),), entry_seconds=10e-9)


def _softmax_forms(zs):
    from .sympy_forms import softmax
    return [softmax(i, *zs) for i in range(len(zs))]


def __getattr__(name):
    """The SymPy functions (``sigmoid``, ``softmax``, ...) are loaded from :mod:`.sympy_forms` on first use."""
    if name in ("NetFunctionBase", "sigmoid", "relu", "leaky_relu", "softplus", "softmax", "elu", "selu", "gelu",
                "gelu_tanh"):
        from . import sympy_forms
        return getattr(sympy_forms, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("linear", lambda z, axis=-2: z, lambda z, a: np.ones_like(z),
                   _elementwise("linear"), "z", "1", identity=True),
        # σ' from a carries a's rounding times |dσ'/da|: |1 − 2a|·|a| for σ(1 − σ), 2a² for 1 − tanh² (an absolute ε
        # only where σ saturates at 1; where it saturates at 0 or tanh at 0, a relative one). Measured against 80-bit
        # arithmetic, the worst errors are |σ'| + 0.88·|a(1 − 2a)| and |σ'| + 1.09·a² ulps: twice that is allowed.
        Activation("sigmoid", lambda z, axis=-2: _sigmoid(z), lambda z, a: a * (1.0 - a),
                   _elementwise("sigmoid"), "σ(z) = 1/(1+exp(-z))", "σ(z)(1 − σ(z))",
                   output_range=(0.0, 1.0), prime_of_a_slip=True, text_head="σ", latex_head=r"\sigma",
                   entry_seconds=13e-9,
                   derivative_rounding=lambda z, a: 2 * np.abs(a * (1.0 - a)) + 2 * np.abs(a * (1.0 - 2 * a))),
        Activation("tanh", lambda z, axis=-2: np.tanh(z), lambda z, a: 1.0 - a * a,
                   _elementwise("tanh"), "tanh(z)", "1 − tanh²(z)",
                   output_range=(-1.0, 1.0), prime_of_a_slip=True, latex_head=r"\tanh", entry_seconds=1e-9,
                   derivative_rounding=lambda z, a: 2 * np.abs(1.0 - a * a) + 2 * a * a),
        Activation("relu", lambda z, axis=-2: np.maximum(z, 0.0),
                   lambda z, a: (z > 0).astype(z.dtype),
                   _elementwise("relu"), "max(0, z)", "[z > 0]", kinks=(0.0,), entry_seconds=0.5e-9),
        make_leaky_relu(),
        # σ(z) as users compute it, 1/(1 + exp(−z)) or exp(z)/(1 + exp(z)), is good to 1.34 ulps of itself (measured
        # against 40 digits over z in [−700, 40]): a relative ε, even where σ(z) is 1e-14 (twice that is allowed).
        Activation("softplus", lambda z, axis=-2: softplus_of(z),
                   lambda z, a: _sigmoid(z),
                   _elementwise("softplus"), "log(1 + exp(z))", "σ(z)", prime_of_a_slip=True, entry_seconds=11e-9,
                   derivative_rounding=lambda z, a: 2.7 * _sigmoid(z)),
        Activation("softmax", _softmax, None,
                   _softmax_forms,
                   "exp(z_i) / Σ_j exp(z_j)", "a_i([i = j] − a_j)", last_only=True, losses=("cross_entropy",),
                   min_units=2, min_units_why="softmax over 1 unit is always 1 (its gradient is 0); use 2 or more "
                                              "units, or sigmoid with loss bce",
                   output_range=(0.0, 1.0), entry_seconds=5e-9, row_reductions=2),
        make_elu(),
        Activation("selu", lambda z, axis=-2: _selu(z),
                   lambda z, a: np.where(z > 0, SELU_LAMBDA, a + SELU_LAMBDA * SELU_ALPHA),
                   _elementwise("selu"), "λ·(z if z > 0 else α·(exp(z) − 1)), λ = 1.0507…, α = 1.6733…",
                   "λ if z > 0 else λ·α·exp(z) = a + λ·α", kinks=(0.0,), prime_of_a_slip=True,
                   wrong_primes=(("no_lambda", "elu's derivative with SELU's α but without its λ (1 if z > 0 else "
                                               "α·exp(z))", lambda z, a: np.where(z > 0, 1.0, a / SELU_LAMBDA
                                                                                    + SELU_ALPHA)),),
                   entry_seconds=11e-9),
        Activation("gelu", lambda z, axis=-2: _gelu(z), lambda z, a: normal_cdf(z) + z * normal_pdf(z),
                   _elementwise("gelu"), "z·Φ(z), Φ(z) = (1 + erf(z/√2))/2", "Φ(z) + z·φ(z)",
                   wrong_primes=(("phi_only", "Φ(z) alone (the product rule's z·φ(z) left out)",
                                  lambda z, a: normal_cdf(z)),
                                 ("tanh_form", "the tanh approximation's derivative (gelu_tanh')",
                                  lambda z, a: _gelu_tanh_prime(z))), entry_seconds=70e-9),
        Activation("gelu_tanh", lambda z, axis=-2: _gelu_tanh(z), lambda z, a: _gelu_tanh_prime(z),
                   _elementwise("gelu_tanh"), "z·(1 + tanh(u))/2, u = √(2/π)·(z + 0.044715·z³)",
                   "(1 + tanh(u))/2 + z·(1 − tanh²(u))·√(2/π)·(1 + 3·0.044715·z²)/2",
                   wrong_primes=(("tanh_only", "(1 + tanh(u))/2 alone (the product rule's second term left out)",
                                  lambda z, a: 0.5 * (1.0 + np.tanh(_GELU_C * (z + _GELU_K * z**3)))),
                                 ("exact_form", "the exact gelu's derivative Φ(z) + z·φ(z)",
                                  lambda z, a: normal_cdf(z) + z * normal_pdf(z))), entry_seconds=50e-9,
                   output_rounding=lambda z, a: 0.5 * np.abs(z) * np.abs(np.tanh(_GELU_C * (z + _GELU_K * z**3)))),
    ]
}
