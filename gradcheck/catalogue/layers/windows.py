"""Sliding windows over the last two axes (H, W): output sizes with their formula, views, and the way back.

``windows`` is :func:`numpy.lib.stride_tricks.sliding_window_view` taken every S
pixels: no copy, no Python loop over pixels or samples. ``col2im`` sends each
window's values back to the pixels they came from, summing where windows overlap;
it loops over the kh·kw offsets inside a window only.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...errors import SpecError

__all__ = ["col2im", "out_size", "pad", "read_pair", "windows"]


def read_pair(read, key):
    """``k`` or ``[kh, kw]`` (whole numbers >= 1) -> (kh, kw)."""
    value = read.raw.get(key, read.default(key))
    if isinstance(value, list):
        if len(value) != 2:
            raise SpecError(f"{read.path}.{key}", f"expected a whole number or [height, width], got a list of "
                                                 f"{len(value)}", read.source)
        return tuple(read.int(key, value=v, where=f"{key}[{i}]") for i, v in enumerate(value))
    k = read.int(key, value=value)
    return (k, k)


def _fmt(x):
    x = Fraction(x)
    if x.denominator == 1:
        return str(x.numerator)
    text = f"{float(x):.3g}"
    if not text.lstrip("-").isdigit():
        return text
    whole = x.numerator // x.denominator  # 1.0000001 is not "1": the whole part and what is left over
    return f"{whole} + {x - whole}" if whole else str(x)


def out_size(what, axis, n, k, s, p, path, source):
    """(size, formula) of a sliding window: ``n`` pixels, window ``k``, stride ``s``, zero padding ``p``.

    ``what`` names the layer ("conv2d 0"); ``p`` is None for pooling (no padding in the
    formula). A size that is not a whole number >= 1 raises a one-line
    :class:`SpecError` at ``path`` with the formula in the user's numbers and a fix.
    """
    padded = n + 2 * (p or 0)
    inner = f"{n} + 2·{p} − {k}" if p is not None else f"{n} − {k}"
    name = {"H": "H'", "W": "W'"}[axis]
    if padded < k:
        room = f"{n} + 2·{p} = {padded}" if p is not None else f"{n}"
        fix = f"use a kernel of at most {padded}" + (" or more padding" if p is not None else "")
        raise SpecError(path, f"{what}: {name} = ({inner})/{s} + 1 < 1: the {k}-wide window is larger than the "
                              f"{'padded ' if p is not None else ''}input ({room}); {fix}", source)
    size = Fraction(padded - k, s) + 1
    formula = f"{what}: {name} = ({inner})/{s} + 1 = {_fmt(size)}"
    if size.denominator != 1:
        fixes = []
        q = _padding_that_fits(n, k, s) if p is not None else None
        if q is not None:
            fixes.append(f"padding {q} ({name} = {(n + 2 * q - k) // s + 1})")
        t = _largest_divisor_below(padded - k, s)
        if t is not None:
            fixes.append(f"stride {t} ({name} = {(padded - k) // t + 1})")
        q = _nearest_window(padded, k, s)
        if q is not None:
            fixes.append(f"{'size' if p is None else 'kernel'} {q} ({name} = {(padded - q) // s + 1})")
        why = "the windows do not tile the input" if p is None else "the windows do not fit the padded input"
        raise SpecError(path, f"{formula} is not a whole number: {why} ({padded} − {k} = {padded - k} is not a "
                              f"multiple of the stride {s}); try {' or '.join(fixes) or 'another stride'}", source)
    return int(size), formula


def _padding_that_fits(n, k, s):
    """The least padding q >= 0 with n + 2q >= k and n + 2q − k a multiple of s, or None (no loop over q:
    sizes may be large)."""
    r = (k - n) % s  # need 2q ≡ r (mod s)
    if s % 2 == 0:
        if r % 2:
            return None
        m, target = s // 2, r // 2
    else:
        m, target = s, r * pow(2, -1, s) % s
    least = max(0, -(-(k - n) // 2))
    return least + (target - least) % m


def _largest_divisor_below(d, s):
    """The largest t < s dividing d > 0, or None; found among the divisors of d up to a bound (a huge
    stride with no small fix gets none)."""
    best, i = None, 1
    while i * i <= d and i < s and i <= 100_000:
        if d % i == 0:
            for t in (i, d // i):
                if t < s and (best is None or t > best):
                    best = t
        i += 1
    return best


def _nearest_window(padded, k, s):
    """The window size q in [1, padded], q != k, nearest to k (the smaller on a tie) with padded − q a
    multiple of s, or None."""
    r = padded % s
    below = k - ((k - r) % s)  # the largest q <= k with q ≡ padded (mod s)
    candidates = [q for q in (below, below + s) if 1 <= q <= padded and q != k]
    return min(candidates, key=lambda q: (abs(q - k), q)) if candidates else None


def shape_text(shape):
    """``(N,1,6,6)`` for a batch of one sample shape (with N)."""
    return "(" + ",".join(["N", *map(str, shape)]) + ")"


def pad(x, p):
    """Zeros on every side of the last two axes."""
    if not p:
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)])


def windows(x, kernel, stride):
    """(..., H, W) -> (..., H', W', kh, kw): every window, taken every ``stride`` pixels (a view)."""
    (kh, kw), (sh, sw) = kernel, stride
    return sliding_window_view(x, (kh, kw), axis=(-2, -1))[..., ::sh, ::sw, :, :]


def col2im(g, size, stride):
    """(..., H', W', kh, kw) window values -> (..., H, W): each value added to the pixel it came from."""
    *lead, ho, wo, kh, kw = g.shape
    (h, w), (sh, sw) = size, stride
    out = np.zeros((*lead, h, w), dtype=g.dtype)
    for p in range(kh):
        for q in range(kw):
            out[..., p:p + sh * (ho - 1) + 1:sh, q:q + sw * (wo - 1) + 1:sw] += g[..., p, q]
    return out
