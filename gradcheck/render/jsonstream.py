"""JSON written as it is produced: a document whose NumPy arrays go out row by row, never whole lists in memory.

A check of a million parameters carries four opinions of a million numbers each: as nested
Python lists, and then as one indented string, they would take several times the check's own
memory and most of its time. Here every array is written straight from NumPy, one innermost
row per line (``[0.5, -1.25, null]``, the JSON encoder's own float text), and everything else
as :func:`json.dumps` writes it with ``indent=2``. Non-finite numbers (a broken opinion) are
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

__all__ = ["write_json"]

_ROW = 4096  # entries of a 1-D array written per line


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


def _row(values):
    """One innermost row: ``[a, b, ...]`` with null for non-finite entries."""
    import numpy as np

    flat = np.asarray(values, dtype=float)
    if np.isfinite(flat).all():
        return json.dumps(flat.tolist())
    return json.dumps([v if math.isfinite(v) else None for v in flat.tolist()])


def _array(x, out, level, indent):
    if x.ndim == 0:
        out.write(json.dumps(_scalar(x)))
        return
    if x.dtype.kind not in "fiub":
        _write(x.tolist(), out, level, indent)
        return
    if x.ndim == 1:
        if x.size <= _ROW:
            out.write(_row(x))
            return
        out.write("[")  # a long vector: written in pieces of _ROW entries, one JSON list
        for start in range(0, x.size, _ROW):
            out.write(("" if start == 0 else ", ") + _row(x[start:start + _ROW])[1:-1])
        out.write("]")
        return
    pad, inner = " " * (indent * level), " " * (indent * (level + 1))
    out.write("[\n")
    for m in range(len(x)):
        out.write(inner)
        _array(x[m], out, level + 1, indent)
        out.write(",\n" if m < len(x) - 1 else "\n")
    out.write(pad + "]")
