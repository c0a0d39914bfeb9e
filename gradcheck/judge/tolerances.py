"""Tolerances by dtype: one row per float dtype a gradient may come in, and one lookup, :func:`tolerance`.

Each row holds the dtype's machine ε, the default relative tolerance of a gradient of that dtype, and the
multiple of the rounding estimate of :func:`gradcheck.reference.rounding.backprop_rounding` (in units of ε)
allowed to an analytic opinion:

* **float64**: rtol 1e-5 (the default finite differences are good to ~1e-9 and better); a caller's rtol is
  taken as it is;
* **float32**: rtol 2⁷·ε₃₂ ≈ 1.5e-5, ε₃₂ grown through a few layers (a ×1.001 error still fails); a caller's
  rtol below it is raised to it, and the rounding estimate is taken at ε₃₂;
* **float16**: the same rule at ε₁₆. The checks tell float64 from "lower" only (a float16 gradient is judged
  with the float32 row, as a float32 one).

>>> row = tolerance("float32")
>>> row.judged_rtol(1e-8) == row.rtol, tolerance().judged_rtol(1e-8)
(True, 1e-08)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..defaults import RTOL

__all__ = ["ANALYTIC_ULPS", "TOLERANCES", "Tolerance", "tolerance"]

#: Rounding of any backprop: a multiple of the estimate of :func:`gradcheck.reference.rounding.backprop_rounding`.
ANALYTIC_ULPS = 4
#: A coarser dtype's rtol: its ε grown through a few layers.
GROWTH = 2.0**7


@dataclass(frozen=True)
class Tolerance:
    """One dtype's row: its ε, the default rtol of a gradient in it, the multiple of the rounding estimate allowed."""

    dtype: str
    eps: float
    rtol: float
    rounding_ulps: float = ANALYTIC_ULPS

    def judged_rtol(self, rtol):
        """The rtol a gradient of this dtype is judged with when ``rtol`` was asked: as asked at float64's ε, and no
        tighter than the dtype's own for a coarser one."""
        return rtol if self.eps <= TOLERANCES["float64"].eps else max(rtol, self.rtol)

    def rounding(self, estimate):
        """The rounding an analytic value may have, from ``estimate`` in units of ε (at this dtype's ε)."""
        return self.rounding_ulps * self.eps * estimate

    def rescale(self, rounding):
        """A float64 rounding (from :meth:`rounding` of the float64 row) taken at this dtype's ε instead."""
        return rounding * (self.eps / TOLERANCES["float64"].eps)


def _row(dtype, rtol=None):
    eps = float(np.finfo(dtype).eps)
    return Tolerance(np.dtype(dtype).name, eps, GROWTH * eps if rtol is None else rtol)


#: The table, by dtype name.
TOLERANCES = {row.dtype: row for row in (_row(np.float64, RTOL), _row(np.float32), _row(np.float16))}


def tolerance(dtype="float64"):
    """The row of ``dtype`` (a name, a NumPy dtype or scalar type): :class:`Tolerance`."""
    name = np.dtype(dtype).name
    if name not in TOLERANCES:
        raise ValueError(f"dtype {name}: no tolerances; expected one of {', '.join(TOLERANCES)}")
    return TOLERANCES[name]
