"""One element's verdict: its errors and the band they fall in (a tensor's verdicts are a
:class:`~gradcheck.judge.compare.TensorCheck`, the whole result of a check a
:class:`~gradcheck.judge.outcome.CheckResult`).

For an analytic value a and a numeric value n of one element, with ``bound`` the
finite difference's own error estimate for n (truncation from the stencil at h and 2h,
plus rounding of the loss at its scale):

    err = |a − n|,   rel_err = err / max(|a|, |n|),   tol = rtol · max(|a|, |n|) + atol

* **good**: ``err <= tol``;
* **inconclusive**: ``tol < err <= tol + MARGIN · bound``: only the finite difference's
  own error could explain the disagreement, so it cannot decide (not a FAIL; the
  result says why and what to try); also where err is beyond rtol and only the
  backprop's rounding (below) covers it, that rounding being as large as the element
  itself or the difference 1% of it or more (:func:`_swamped`);
* **wrong** (rel_err >= :data:`SUSPICIOUS`) or **suspicious**: the analytic value lies
  outside the finite difference's error bound by a margin. However small the
  gradient, an element the finite difference resolves is judged relatively.
* **kink**: the element sits on a point where the function is not differentiable (relu at 0)
  and its value lies between the one-sided derivatives there (the numeric value is their
  midpoint, the bound reaches both); reported, not failed. Outside them it is wrong, and so
  is a value the joint test of all kinks finds wrong (``joint``: not a sub- or supergradient
  as a vector, see :mod:`gradcheck.judge.subgradient`). An element too close to a kink for
  any step to resolve (``unresolved``) is inconclusive where its value lies between the slopes its steps saw,
  and beyond them too unless those steps crossed one same kink on one side only (``bracketed``): then wrong.
* **blind**: where the finite difference finds no slope at all (its value within its own
  bound of 0) and the reference backprop, exact but for its rounding, finds one it cannot
  explain, the loss changes only within a width narrower than any step the difference
  takes (a norm over values of very different sizes): every opinion is inconclusive there
  (:meth:`~gradcheck.judge.compare.TensorCheck.unjudged_elements`), unless SymPy's exact value sides with the finite
  difference, which makes the reference the one that is wrong.
* **unmeasured**: where the finite difference has no value at all (the loss is not finite
  at any step it takes: a weight of 3e183 above a unit at 0 turns a loss of 1e-40 to inf
  at a step of 1e-14), every opinion is inconclusive
  (:meth:`~gradcheck.judge.compare.TensorCheck.unjudged_elements`).

``atol`` is 0 by default: an absolute floor would pass every wrong gradient smaller
than it. An analytic opinion may also differ from the exact gradient by the rounding
a correct backprop makes in that element (``rounding``, estimated per element from the
terms it sums: :mod:`gradcheck.reference.rounding`), which is added to its tolerance. A
user's gradient returned as float32 (its arrays' dtype, never guessed from the size of
a disagreement) is allowed float32's rounding instead: the same estimate at ε₃₂, or,
where there is none, ε₃₂ at the element's own size. The tolerances of each dtype are the
table of :mod:`gradcheck.judge.tolerances`.
"""

from __future__ import annotations

import math

import numpy as np

from ..defaults import ATOL, MARGIN, RTOL

__all__ = ["ATOL", "BANDS", "MARGIN", "RTOL", "SUSPICIOUS", "TINY", "UNDERFLOW", "beyond", "carried_precision",
           "errors", "judged_together", "low_precision", "outvoted", "verdict_codes", "verdicts", "within_rtol"]

#: Where float64 underflows: numbers this close to the smallest normal (2.2e-308) have lost digits, and
#: no gradient there can be judged relatively (the hardware's floor, not a tolerance).
UNDERFLOW = 2.0**20 * float(np.finfo(np.float64).tiny)
#: Relative errors below this (but beyond the tolerance and the bound) are "suspicious" rather than "wrong".
SUSPICIOUS = 1e-2
TINY = 1e-300
BANDS = ("good", "kink", "inconclusive", "suspicious", "wrong")
_BAND_ARRAY = np.array([*BANDS, "unchecked"])
#: Verdicts are kept as codes into ``_BAND_ARRAY`` (one byte per element, not a string of 12 characters).
_GOOD, _KINK, _INCONCLUSIVE, _SUSPICIOUS, _WRONG, _UNCHECKED = range(6)


def errors(analytic, numeric):
    """(abs_err, rel_err) arrays for two arrays of the same shape (NaN errors become inf)."""
    a, n = np.asarray(analytic, float), np.asarray(numeric, float)
    abs_err = np.abs(a - n)
    with np.errstate(invalid="ignore"):
        rel_err = abs_err / np.maximum(np.maximum(np.abs(a), np.abs(n)), TINY)
    rel_err = np.where(np.isnan(abs_err) | np.isnan(rel_err), np.inf, rel_err)
    return np.where(np.isnan(abs_err), np.inf, abs_err), rel_err


def verdicts(analytic, numeric, rtol=RTOL, atol=ATOL, kinks=None, bound=None, margin=MARGIN):
    """Array of band names (see :data:`BANDS`) for each element.

    ``bound`` is the numeric value's error estimate (same shape, or None for "exact").

    >>> verdicts([1.0, 2e-9, 1e-9, 3.0], [1.0, 1e-9, 1.1e-9, 3.0], bound=[0, 1e-14, 1e-10, 0]).tolist()
    ['good', 'wrong', 'inconclusive', 'good']
    """
    return np.array(_BAND_ARRAY[verdict_codes(analytic, numeric, rtol, atol, kinks, bound, margin)])


def verdict_codes(analytic, numeric, rtol=RTOL, atol=ATOL, kinks=None, bound=None, margin=MARGIN, rounding=None):
    """:func:`verdicts` as int8 codes (indices into ``BANDS``), an array also for a 0-d tensor.

    ``rounding`` (same shape, or None) is the rounding the analytic value may have: added to the tolerance."""
    return _judged(analytic, numeric, rtol, atol, kinks, bound, margin, rounding)[0]


def _judged(analytic, numeric, rtol, atol, kinks, bound, margin, rounding):
    """(codes, abs_err, rel_err, max(|a|, |n|)) of :func:`verdict_codes`, the errors kept for the caller."""
    a, n = np.asarray(analytic, float), np.asarray(numeric, float)
    with np.errstate(invalid="ignore"):
        abs_err = np.abs(a - n)
        size = np.maximum(np.abs(a), np.abs(n))
        rel_err = abs_err / np.maximum(size, TINY)  # errors(a, n), before its NaN become inf
        finite = np.isfinite(a) & np.isfinite(n)
        tol = rtol * size + atol
        if rounding is not None:
            tol = tol + np.asarray(rounding, float)
        good = finite & (abs_err <= tol)
        if good.all():  # the common case: every element good, every error finite
            return np.zeros(good.shape, dtype=np.int8), abs_err, rel_err, size
        nan = np.isnan(abs_err)
        rel_err = np.where(nan | np.isnan(rel_err), np.inf, rel_err)
        abs_err = np.where(nan, np.inf, abs_err)
        explained = finite & (abs_err <= tol + margin * (0.0 if bound is None else np.asarray(bound, float)))
    code = np.where(good, _GOOD, np.where(explained, _INCONCLUSIVE,
                                          np.where(rel_err < SUSPICIOUS, _SUSPICIOUS, _WRONG)))
    if kinks is not None:  # a kink excuses a value between the one-sided derivatives (the bound), no other
        code = np.where(np.asarray(kinks, bool) & ~good & explained, _KINK, code)
    return np.array(code, dtype=np.int8), abs_err, rel_err, size


def judged_together(parts, rtol, atol, margin=MARGIN):
    """:func:`_judged` of each of ``parts``, a list of (analytic, numeric, kinks or None, bound or None) with no
    rounding, made in one pass over all their elements (the same numbers element by element: a network's tensors
    are many and often small, and each pass costs NumPy's fixed cost once instead of once per tensor). Each result's
    arrays are views of the pass's, in its part's shape."""
    if not parts:
        return []
    shapes = [np.shape(n) for _, n, _, _ in parts]

    def joined(k, fill):
        return np.concatenate([np.ravel(np.asarray(part[k], float if k < 2 else None)) if part[k] is not None
                               else np.full(math.prod(shape), fill) for part, shape in zip(parts, shapes)])

    whole = _judged(joined(0, 0.0), joined(1, 0.0), rtol, atol, joined(2, False).astype(bool), joined(3, 0.0),
                    margin, None)
    out, at = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(tuple(x[at:at + size].reshape(shape) for x in whole))
        at += size
    return out


def beyond(value, numeric, rtol=RTOL, atol=ATOL, bound=None, margin=MARGIN):
    """Boolean mask: where ``value`` differs from the finite difference ``numeric`` beyond the tolerance and what the
    difference's own ``bound`` explains (False where either is NaN).

    >>> beyond([1.0, 1.5, np.nan], [1.0, 1.0, 1.0]).tolist()
    [False, True, False]
    """
    value, numeric = np.asarray(value, float), np.asarray(numeric, float)
    slack = atol + (0.0 if bound is None else margin * np.asarray(bound, float))
    with np.errstate(invalid="ignore"):
        return np.abs(value - numeric) > rtol * np.maximum(np.abs(value), np.abs(numeric)) + slack


def outvoted(lone, reference, numeric, rtol=RTOL, atol=ATOL, bound=None, margin=MARGIN):
    """Boolean mask: where the opinion ``lone`` differs from the finite difference ``numeric`` beyond what the
    tolerance and the difference's own ``bound`` explain, while ``reference`` (the reference backprop) is within
    them (good or inconclusive, without any allowance for rounding): two independent opinions against one (all
    three finite).

    >>> outvoted([1.0, 1.5, 2.0], [1.0, 1.0, 2.5], [1.0, 1.0, 2.0]).tolist()
    [False, True, False]
    >>> outvoted([1e-6, 1e-6], [1e-20, 1e-6], [0.0, 0.0], bound=[1e-15, 1e-15]).tolist()
    [True, False]
    """
    lone, reference, numeric = (np.asarray(x, float) for x in (lone, reference, numeric))
    agree = np.isfinite(reference) & np.isfinite(numeric) & ~beyond(reference, numeric, rtol, atol, bound, margin)
    return agree & beyond(lone, numeric, rtol, atol, bound, margin) & np.isfinite(lone)


def within_rtol(analytic, numeric, rtol=RTOL, atol=ATOL):
    """True when every element of ``analytic`` is within ``rtol`` (and ``atol``) of ``numeric``, both finite and of
    one shape: "good" without any allowance for rounding (a cheap forecast of :attr:`TensorCheck.settled`).

    >>> within_rtol([1.0, 2e-9], [1.0, 2.000001e-9]), within_rtol([1.0, 2e-9], [1.0, 1e-9])
    (True, False)
    """
    if analytic is None or np.shape(analytic) != np.shape(numeric):
        return False
    a, n = np.asarray(analytic, float), np.asarray(numeric, float)
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.abs(a - n) <= rtol * np.maximum(np.abs(a), np.abs(n)) + atol))


def _swamped(analytic, numeric, rtol, atol, rounding, judged=None):
    """Elements whose analytic value differs from the numeric one beyond ``rtol`` and ``atol``, where the rounding a
    correct backprop may make is as large as the element itself, or the difference is :data:`SUSPICIOUS` of it or
    more: the rounding explains the difference, but no value of that size can be judged (a saturated output, where
    the textbook δ = a − y rounds to 0 and so does every gradient it feeds, whatever its sign; an allowance of
    400 for a gradient of 360, under which a doubled one is no better known than a right one). Inconclusive, not
    good: "good" promises a value within 1% at worst. ``judged``: :func:`_judged`'s result for these values, if
    made (its errors are used again)."""
    if judged is None:
        judged = _judged(analytic, numeric, rtol, atol, None, None, MARGIN, None)
    _, abs_err, _, size = judged
    with np.errstate(invalid="ignore"):
        return (abs_err > rtol * size + atol) & ((np.asarray(rounding, float) >= size) | (abs_err >= SUSPICIOUS * size))


#: A value of this many significant bits or fewer says nothing of the precision it was computed in (0, 1, 0.5, an
#: integer count): every float holds it exactly.
SIMPLE_BITS = 8


def carried_precision(values):
    """The narrowest of "float16" and "float32" that holds every one of ``values`` (Python floats) exactly, where
    the first is finite and has more than :data:`SIMPLE_BITS` significant bits; None elsewhere. A loss computed in
    float32 and handed back as a Python float (``float(loss)``, a framework's ``loss.item()``) keeps float32's
    24 bits: a float64 computation lands on such a value once in about 5e8, at a second point once in about 3e17.

    >>> carried_precision([float(np.float32(0.1)), float(np.float32(2.3))]), carried_precision([0.1, 2.3])
    ('float32', None)
    >>> carried_precision([1.0, 2.0]) is None  # too simple to say
    True
    """
    first = values[0] if len(values) else math.nan
    if not math.isfinite(first) or _bits(first) <= SIMPLE_BITS:
        return None
    for dtype in (np.float16, np.float32):
        with np.errstate(over="ignore"):
            if all(math.isfinite(v) and float(dtype(v)) == v for v in values):
                return np.dtype(dtype).name
    return None


def _bits(v):
    """How many significant bits the float ``v`` has (0 for 0)."""
    n = int(abs(math.frexp(v)[0]) * 2**53)
    return n.bit_length() - (n & -n).bit_length() + 1 if n else 0


def low_precision(values, depth=0):
    """True if any array in ``values`` (an array, a number, nested lists/tuples/dicts) is float32 or float16."""
    if isinstance(values, (np.ndarray, np.floating)):
        return values.dtype in (np.float32, np.float16)
    if depth > 4:
        return False
    items = values.values() if isinstance(values, dict) else values if isinstance(values, (list, tuple)) else ()
    return any(low_precision(v, depth + 1) for v in items)


def _band_code(band):
    """The code of a band name ("good" … "wrong", "unchecked")."""
    return (*BANDS, "unchecked").index(band)
