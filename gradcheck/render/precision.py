"""Numbers as a derivation report shows them: rounded to where they mean something.

A committed report must be a function of its spec alone. Finite differences carry
round-off that differs between machines and BLAS builds (1e-10 on one, 5e-12 on
another for the same element), so a report never prints digits below that noise:

* a gradient value shows :data:`VALUE_DIGITS` significant digits. Where a second
  opinion (finite differences, SymPy, the user's backprop) rounds to within one unit
  of the last digit of the reference backprop's value, it shows the backprop's digits:
  the two differ only below the precision shown, so printing the other rounding would
  only show which side of a rounding boundary the round-off fell on;
* a relative error below :data:`ERROR_FLOOR` is shown as ``< 1e-07``: central
  differences resolve float64 gradients to about 1e-9 to 1e-12, so every smaller digit
  is noise, and a reader needs only to know that the error is far inside the tolerance.
  Larger errors show two significant digits;
* a difference smaller than ``ERROR_FLOOR`` times the largest gradient element (the
  ``noise`` argument, see :func:`noise_level`) is round-off too, however large it is
  relative to a value near 0: a backprop value of exactly 0 and a finite difference of
  3e-12 agree, and the report shows them so.

>>> shown_value(0.022897286627338597)
'0.0228973'
>>> shown_value(0.02289725000000001, like=0.02289724999999999)   # round-off straddles a boundary
'0.0228972'
>>> shown_value(0.0458, like=0.0229)                               # a real disagreement stays visible
'0.0458'
>>> shown_error(5.2e-10), shown_error(1.3e-9), shown_error(0.58)
('< 1e-07', '< 1e-07', '0.58')
"""

from __future__ import annotations

import math

__all__ = ["VALUE_DIGITS", "ERROR_FLOOR", "noise_level", "shown_value", "shown_error", "rounded", "rounded_error",
           "json_number"]

#: Significant digits of a gradient value in a report.
VALUE_DIGITS = 6
#: Relative errors below this are round-off to a report: shown as "< 1e-07".
ERROR_FLOOR = 1e-7


def _digits(v):
    s = format(v, f".{VALUE_DIGITS}g")
    return "0" if s in ("-0", "0") else s


def _last_place(v):
    """One unit in the last shown digit of ``v`` (0 for 0)."""
    if v == 0:
        return 0.0
    return 10.0 ** (math.floor(math.log10(abs(v))) - VALUE_DIGITS + 1)


def noise_level(values):
    """The absolute round-off level of a set of gradient values: ``ERROR_FLOOR`` × their largest magnitude.

    ``values``: any iterable of arrays or numbers (non-finite entries are ignored).

    >>> noise_level([[0.5, -2.0], 0.0])
    2e-07
    """
    import numpy as np

    biggest = 0.0
    for v in values:
        a = np.abs(np.asarray(v, dtype=float))
        a = a[np.isfinite(a)]
        if a.size:
            biggest = max(biggest, float(a.max()))
    return ERROR_FLOOR * biggest


def rounded(value, like=None, noise=0.0):
    """``value`` as a float with the digits a report shows (see the module docstring); None stays None.

    ``like`` is the reference value (the backprop's) that ``value`` is shown against: within
    one unit of the last digit, or within ``noise``, the reference's digits are shown.
    NaN and infinities are returned as they are.
    """
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v):
        return v
    if like is not None and math.isfinite(float(like)):
        ref = float(_digits(float(like)))
        if abs(v - float(like)) <= noise or abs(float(_digits(v)) - ref) <= 1.5 * _last_place(ref):
            return ref
    return float(_digits(v))


def shown_value(value, like=None, noise=0.0):
    """The text of a gradient value in a report: ``VALUE_DIGITS`` significant digits, "NaN", "inf" or "skipped"."""
    if value is None:
        return "skipped"
    v = rounded(value, like, noise)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return _digits(v)


def rounded_error(rel, abs_err=None, noise=0.0):
    """A relative error as a report states it: None below :data:`ERROR_FLOOR` (or where the absolute
    difference ``abs_err`` is within ``noise``), else two significant digits.

    NaN and infinities (a broken opinion) are returned as they are.
    """
    r = float(rel)
    if not math.isfinite(r):
        return r
    if r < ERROR_FLOOR or (abs_err is not None and float(abs_err) <= noise):
        return None
    return float(format(r, ".2g"))


def shown_error(rel, abs_err=None, noise=0.0):
    """The text of a relative error in a report: ``< 1e-07`` below the floor, else two significant digits."""
    r = rounded_error(rel, abs_err, noise)
    if r is None:
        return f"< {ERROR_FLOOR:.0e}"
    if math.isnan(r):
        return "NaN"
    return "inf" if math.isinf(r) else format(r, ".2g")


def json_number(x, arrays=False):
    """``x`` made JSON-safe, recursively: NaN and infinities (a broken opinion) become None (null, which
    strict JSON allows), NumPy scalars and arrays become floats, ints and nested lists; with ``arrays``, numeric
    NumPy arrays stay arrays, for :func:`~gradcheck.render.jsonstream.write_json` to write row by row.

    >>> json_number([1.5, float("nan"), {"e": float("inf")}])
    [1.5, None, {'e': None}]
    """
    if isinstance(x, dict):
        return {k: json_number(v, arrays) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_number(v, arrays) for v in x]
    if arrays and hasattr(x, "dtype") and getattr(x, "ndim", 0) and x.dtype.kind in "fiub":  # a NumPy array
        return x
    if hasattr(x, "tolist"):  # a NumPy array or scalar
        return json_number(x.tolist())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    return x
