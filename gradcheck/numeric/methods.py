"""Finite-difference methods as data: one :class:`Method` per stencil, in the registry :data:`METHODS`.

A method says which multiples of the step h it evaluates per element, its step scale
(h = scale · max(1, |θ_i|)), whether it needs complex arithmetic, whether it suits a
network with kinks, whether the per-element step control of :mod:`gradcheck.numeric.steps`
applies to it, and how the values at its points combine into an estimate and an error
bound (:func:`gradcheck.numeric.stencils.combine`). Code that takes a finite difference asks
the object (``method.complex``, ``method.estimate(g1, g2)``); no other module compares a
method's name. :func:`lookup` turns a name a caller gave ("auto", a name or an alias)
into its method; "auto" picks the most accurate automatic method that suits the
network (:func:`pick`).

How to add a stencil: make a :class:`Method` (or a subclass, for a new way of combining
the values) and :func:`register` it. Its name and aliases then become valid values of
``method=`` and ``--method``. Here into a copy of the registry, so the example changes
nothing else:

>>> wide = Method("central-wide", step_scale=1e-4, order=2, aliases=("wide",), automatic=False)
>>> registry = register(wide, dict(METHODS))
>>> lookup("wide", registry=registry) is wide, "wide" in names(registry)
(True, True)
>>> import numpy as np
>>> theta = np.array([0.5])
>>> values = np.sin(theta + np.outer(wide.offsets, 1e-4))  # f at θ ± h, θ ± 2h for f = sin
>>> from gradcheck.numeric.stencils import combine
>>> g, bound = combine(wide, values, np.outer(wide.offsets, [1e-4]), np.array([1e-4]))
>>> bool(abs(g[0] - np.cos(0.5)) <= bound[0] < 1e-8)
True

Names are plain Python here (no NumPy at import): the pytest plugin reads them when it loads.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = ["AUTO", "CENTRAL", "COMPLEX_STEP", "EPS", "METHODS", "RICHARDSON", "STEP_SCALE", "ComplexStep", "Method",
           "Richardson", "check", "lookup", "names", "pick", "register", "shown"]

#: float64's machine epsilon (2⁻⁵²).
EPS = sys.float_info.epsilon
#: The name that lets the network choose: :func:`pick`.
AUTO = "auto"


@dataclass(frozen=True)
class Method:
    """A central-difference stencil: g(h) = (f(θ + h) − f(θ − h)) / (step taken), its error bound from g(2h).

    ``offsets`` are the multiples of h evaluated per element when the steps are fixed (±h, ±2h: g(2h) gives the
    truncation estimate); ``step_scale`` balances truncation, O(h^order), against rounding, O(ε/h); ``complex``:
    f is evaluated at complex points; ``suits_kinks``: fit for a network with kinks (a narrow stencil crosses
    them less often); ``automatic``: "auto" may pick it; ``per_element_steps``: its steps may be chosen per
    element by :func:`gradcheck.numeric.steps.resolve`.
    """

    name: str
    step_scale: float
    order: int
    aliases: tuple = ()
    offsets: tuple = (1, -1, 2, -2)
    complex: bool = False
    suits_kinks: bool = True
    automatic: bool = True
    per_element_steps: bool = True

    #: The estimate itself takes g(2h) (not only its bound).
    uses_wide = False

    @property
    def estimate_offsets(self):
        """The offsets the estimate itself takes, without its error bound: ±h, or all of :attr:`offsets`."""
        return self.offsets if self.uses_wide else self.offsets[:2]

    @property
    def points(self):
        """Evaluations of f per element at fixed steps."""
        return len(self.offsets)

    @property
    def itemsize(self):
        """Bytes per number of the perturbed points."""
        return 16 if self.complex else 8

    def estimate(self, g1, g2):
        """The estimate from central differences at h (``g1``) and 2h (``g2``)."""
        return g1

    def estimate_rounding(self, r1, r2):
        """The rounding of :meth:`estimate` from the roundings of ``g1`` and ``g2``."""
        return r1


@dataclass(frozen=True)
class Richardson(Method):
    """Richardson extrapolation of central differences at h and 2h: (4·g(h) − g(2h))/3, the five-point stencil,
    O(h⁴). Its error bound is the central one at h, which is safe for it too."""

    uses_wide = True

    def estimate(self, g1, g2):
        return (4 * g1 - g2) / 3

    def estimate_rounding(self, r1, r2):
        return (4 * r1 + r2) / 3


@dataclass(frozen=True)
class ComplexStep(Method):
    """Im f(θ + i·h·e_i)/h = ∂f/∂θ_i + O(h²), with no subtraction: h can be tiny and the result is exact to rounding,
    where every operation is analytic."""

    def estimate(self, g1, g2):
        raise TypeError(f"{self.name} takes no central differences")


#: h = ε^{1/3}·max(1, |θ_i|) balances the O(h²) truncation of a central difference against its O(ε/h) rounding.
STEP_SCALE = EPS ** (1 / 3)
CENTRAL = Method("central", STEP_SCALE, order=2)
#: ε^{1/5} for the O(h⁴) of the extrapolation; "five-point" is its other name.
RICHARDSON = Richardson("richardson", EPS ** (1 / 5), order=4, aliases=("five-point",), suits_kinks=False)
#: f(θ + i·h·e_i) has imaginary part h·∂f/∂θ_i + O(h³): the step can be far below any rounding. Asked for by name only
#: (its complex arithmetic costs more than Richardson's four real passes).
COMPLEX_STEP = ComplexStep("complex-step", 1e-20, order=2, offsets=(1j,), complex=True, suits_kinks=False,
                           automatic=False, per_element_steps=False)


def register(method, registry=None):
    """Add ``method`` under its name and aliases to ``registry`` (default :data:`METHODS`); returns the registry."""
    registry = METHODS if registry is None else registry
    taken = [n for n in (method.name, *method.aliases) if n in registry or n == AUTO]
    if taken:
        raise ValueError(f"method name {taken[0]!r} is taken")
    registry.update(dict.fromkeys((method.name, *method.aliases), method))
    return registry


#: Every method by its name and by each alias, in the order they are offered.
METHODS: dict = {}
for _method in (CENTRAL, RICHARDSON, COMPLEX_STEP):
    register(_method)


def names(registry=None):
    """The names a caller may give: "auto", then every method's name and aliases."""
    return (AUTO, *(METHODS if registry is None else registry))


def check(name, allowed=None, where="method"):
    """Raise ValueError naming ``where`` unless ``name`` is one of ``allowed`` (default :func:`names`)."""
    allowed = names() if allowed is None else allowed
    if name not in allowed:
        raise ValueError(f"{where}={name!r}: expected one of {', '.join(allowed)}")


def pick(kinked, registry=None):
    """The most accurate automatic method (highest order) that suits a function with kinks (``kinked``) or
    without: Richardson where every layer is smooth, central differences near a kink."""
    fit = [m for m in (METHODS if registry is None else registry).values()
           if m.automatic and (m.suits_kinks or not kinked)]
    return max(fit, key=lambda m: m.order)


def lookup(method, kinked=True, registry=None):
    """The :class:`Method` called ``method`` (a name, an alias, "auto" or a Method, returned as it is); "auto" is
    :func:`pick` for ``kinked`` (a function of unknown shape may have kinks)."""
    if isinstance(method, Method):
        return method
    registry = METHODS if registry is None else registry
    if method == AUTO:
        return pick(kinked, registry)
    check(method, names(registry))
    return registry[method]


def shown(method, kinked=True):
    """The name a result reports: the one asked for (an alias stays as given), or the method "auto" picked."""
    return lookup(method, kinked).name if method == AUTO else getattr(method, "name", method)
