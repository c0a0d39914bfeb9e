"""JSON written as it is produced: a document whose NumPy arrays go out row by row, never whole lists in memory.

A check of a million parameters carries four opinions of a million numbers each: as nested
Python lists, and then as one indented string, they would take several times the check's own
memory and most of its time. Here every array is written straight from NumPy, one innermost
row per line (``[0.5, -1.25, null]``, the JSON encoder's own float text, made a block of rows at
a time by :func:`~gradcheck.render.floattext.float_rows`), and everything else as
:func:`json.dumps` writes it with ``indent=2``. Non-finite numbers (a broken opinion) are
``null``, as :func:`~gradcheck.render.precision.json_number` makes them.

>>> import io, numpy as np
>>> out = io.StringIO()
>>> write_json({"a": np.array([[1.5, np.nan], [0.0, 2.0]]), "ok": True}, out)
>>> print(out.getvalue())
{
  "a": [
    [1.5, null],
    [0.0, 2.0]
  ],
  "ok": true
}
"""

from __future__ import annotations

import json
import math

from .floattext import float_rows

__all__ = ["write_json"]

_BLOCK = 1 << 14  # entries formatted at once (a few hundred kB of text: the passes over it stay in cache)


def write_json(doc, out, indent=2):
    """Write ``doc`` (dicts, lists, scalars and NumPy arrays) to the text stream ``out`` as JSON."""
    _write(doc, out, 0, indent)


def _write(x, out, level, indent):
    if hasattr(x, "dtype") and hasattr(x, "ndim"):  # a NumPy array (NumPy is imported only where one is written)
        _array(x, out, level, indent)
    elif isinstance(x, dict):
        _container(list(x.items()), "{", "}", out, level, indent, keyed=True)
    elif isinstance(x, (list, tuple)):
        _container(list(enumerate(x)), "[", "]", out, level, indent, keyed=False)
    else:
        out.write(json.dumps(_scalar(x), ensure_ascii=False))


def _scalar(x):
    if hasattr(x, "item"):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _container(items, open_, close, out, level, indent, keyed):
    if not items:
        out.write(open_ + close)
        return
    pad, inner = " " * (indent * level), " " * (indent * (level + 1))
    out.write(open_ + "\n")
    for m, (key, value) in enumerate(items):
        out.write(inner + (json.dumps(str(key), ensure_ascii=False) + ": " if keyed else ""))
        _write(value, out, level + 1, indent)
        out.write(",\n" if m < len(items) - 1 else "\n")
    out.write(pad + close)


def _array(x, out, level, indent):
    if x.ndim == 0:
        out.write(json.dumps(_scalar(x)))
        return
    if x.dtype.kind not in "fiub":
        _write(x.tolist(), out, level, indent)
        return
    if x.ndim == 1:  # one line, one JSON list, formatted in pieces of _BLOCK entries
        out.write("[")
        for s in range(0, x.size, _BLOCK):
            out.write(("" if s == 0 else ", ") + float_rows(x[s:s + _BLOCK][None], "")[1:-1])
        out.write("]")
        return
    pad, inner = " " * (indent * level), " " * (indent * (level + 1))
    out.write("[\n")
    if x.ndim == 2:  # the innermost rows, one a line, formatted a block of rows at a time
        step = max(1, _BLOCK // max(1, x.shape[1]))
        for m in range(0, len(x), step):
            out.write(("" if m == 0 else ",\n") + inner + float_rows(x[m:m + step], ",\n" + inner))
    else:
        for m in range(len(x)):
            out.write(("" if m == 0 else ",\n") + inner)
            _array(x[m], out, level + 1, indent)
    out.write(("\n" if len(x) else "") + pad + "]")
