"""The JSON text of a block of floats, row by row: exactly what :func:`json.dumps` writes for each row's
``tolist()``, with ``null`` for NaN and infinities, made fast.

Python's shortest float text (``repr``) costs the better part of a microsecond a number, which for
the two opinions of a million-parameter check is seconds. Where `orjson <https://github.com/ijl/orjson>`_
is installed it writes the rows with the same digits (the fewest that read back to the same float, the
nearest of those) in its own notation; the differences are fixed with NumPy on the bytes, without a
Python step per number:

- a space after each comma (``, ``);
- ``1e16`` → ``1e+16`` and ``1e-6`` → ``1e-06`` (Python writes a sign and at least two exponent digits);
- ``0.0000123`` → ``1.23e-05`` (Python writes numbers below 1e-4 in exponent notation, orjson from 1e-5 on).

Before first use the fast path writes a set of probes (both sides of every switch of notation,
subnormals, signed zeros, non-finite numbers) and is used only if it agrees with Python's text on
all of them; without orjson, or if it disagrees, each row is joined from ``float.__repr__``.

>>> import numpy as np
>>> print(float_rows(np.array([[1.5e-5, np.nan], [1e16, -0.0]]), "; "))
[1.5e-05, null]; [1e+16, -0.0]
"""

from __future__ import annotations

import math

__all__ = ["float_rows", "python_rows"]

_PROBES = (0.0, -0.0, 1.0, -1.5, 0.1, 1 / 3, 1e-4, 9.999999999999999e-05, 1e-5, -1.5e-5, 1.2345678901234567e-5,
           9.99e-6, 1e-6, 1.5e-7, 1e-10, 5e-324, -2.2250738585072014e-308, 1e15, 9999999999999998.0, 1e16,
           1.5e16, 1e22, -1e300, 1.7976931348623157e308, 123456789.125, float("nan"), float("inf"), -float("inf"))


def float_rows(block, sep):
    """The rows of the 2-D float array ``block``, each as ``[x, y, ...]``, joined by ``sep`` (one string)."""
    if _fast() and block.size:
        return _fast_rows(block, sep)
    return python_rows(block, sep)


def python_rows(block, sep):
    """:func:`float_rows` written by Python's own float text (the reference the fast path must equal)."""
    return sep.join("[" + ", ".join(float.__repr__(v) if math.isfinite(v) else "null" for v in row) + "]"
                    if not all(map(math.isfinite, row)) else "[" + ", ".join(map(float.__repr__, row)) + "]"
                    for row in block.astype(float, copy=False).tolist())


_usable = None  # whether the fast path is installed and agrees with Python's text (decided on first use)


def _fast():
    global _usable
    if _usable is None:
        try:
            import numpy as np
            import orjson  # noqa: F401
        except ImportError:
            _usable = False
        else:
            probes = np.array([_PROBES, [-v for v in _PROBES]])
            try:
                _usable = _fast_rows(probes, "\n") == python_rows(probes, "\n")
            except Exception:  # an orjson without NumPy arrays, or one that refuses these
                _usable = False
    return _usable


def _fast_rows(block, sep):
    import numpy as np
    import orjson

    block = np.ascontiguousarray(block, dtype=np.float64)
    raw = _ROWS.join([orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY) for row in block])  # as fast as at once
    magnitude = np.abs(block[np.isfinite(block)])
    if ((magnitude > 0) & (magnitude < 1.001e-4)).any() or (magnitude > 0.999e16).any():  # may be written otherwise
        raw = _python_notation(raw)
    return raw.replace(b",", b", ").replace(_ROWS, sep.encode()).decode("ascii")


# One-byte stand-ins for what Python writes longer: "e+", "-0", "e-05,", "e-05]" and the rows' separator.
_PLUS, _ZERO, _COMMA, _BRACKET, _ROWS = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"
_WIDE = 17  # bytes after a number's first digit that can be digits, and one more (17 digits at most)


def _python_notation(raw):
    """orjson's numbers rewritten as Python writes them (the commas as they are).

    Every change is first made in place, a byte for a byte: bytes to drop become NUL and a byte that
    must become several becomes a stand-in. Single-byte replacements then mend the text, each one
    fast C pass however many numbers change (a pattern of several bytes would be searched byte by byte).
    """
    import numpy as np

    n = len(raw)
    buf = np.zeros(n + _WIDE + 8, dtype=np.uint8)  # padded: every look ahead below stays inside
    buf[:n] = np.frombuffer(raw, dtype=np.uint8)
    e = np.flatnonzero(buf == ord("e"))  # 1e16 -> 1e+16 (newer orjson writes the + itself), 1e-6 -> 1e-06
    negative = buf[e + 1] == ord("-")
    buf[e[~negative & (buf[e + 1] != ord("+"))]] = _PLUS[0]
    buf[e[negative & ~_digit(buf[e + 3])] + 1] = _ZERO[0]
    band = _band(buf)  # 0.0000ddd (a number in [1e-5, 1e-4)) -> d.dde-05
    _rewrite_band(buf, band)
    text = buf[:n].tobytes()
    if band.size:
        text = text.replace(b"\0", b"").replace(_COMMA, b"e-05,").replace(_BRACKET, b"e-05]")
    if e.size:
        text = text.replace(_PLUS, b"e+").replace(_ZERO, b"-0")
    return text


def _digit(b):
    return (b >= ord("0")) & (b <= ord("9"))


def _band(buf):
    """Where each number written ``0.0000d...`` starts (found through its four zeros, four alignments at once)."""
    import numpy as np

    zeros = int.from_bytes(b"0000", "little")
    hits = np.concatenate([np.flatnonzero(np.frombuffer(buf.data, dtype="<u4", offset=o, count=(len(buf) - o) // 4)
                                          == zeros) * 4 + o for o in range(4)]) - 2
    s = np.sort(hits[hits > 0])
    return s[(buf[s] == ord("0")) & (buf[s + 1] == ord(".")) & ~_digit(buf[s - 1]) & _digit(buf[s + 6])
             & (buf[s + 6] != ord("0"))]


def _rewrite_band(buf, s):
    """``0.0000`` d rest -> d ``.`` rest ``e-05`` (no point if there is no rest): the rest stays where it is,
    d and the point move onto the zeros, the bytes left over become NUL and the comma or bracket after the
    number becomes a stand-in for "e-05," or "e-05]"."""
    import numpy as np

    j = np.arange(_WIDE)
    r = np.argmin(_digit(buf[s[:, None] + 7 + j]), axis=1)  # digits after the first
    d, more, end = buf[s + 6], r > 0, s + 7 + r
    buf[(s[:, None] + np.arange(5)).ravel()] = 0
    buf[s + 5] = np.where(more, d, 0)
    buf[s + 6] = np.where(more, ord("."), d)
    buf[end] = np.where(buf[end] == ord(","), _COMMA[0], _BRACKET[0])
