"""Causes the line tracer can see on one line: a silent broadcast, a write into overlapping windows, and a
fancy-index ``+=`` whose repeated indices are lost.

- ``err = a - y`` with a (6, 1) and y (6,) gives (6, 6): two operands of different rank (or one the other
  transposed) broadcast to a shape bigger than both. A deliberate outer product such as
  ``delta * a_prev.T`` of a (3, 1) and a (1, 4) is not named.
- ``dx[n, c, i:i+2, j:j+2] = mask * dout[n, c, i, j]`` in a loop over windows that overlap: a later window's
  ``=`` overwrites what an earlier one wrote (a max-pool gradient must be added, ``+=``). Re-writing exactly
  the same part (a state updated in every step) is no overlap.
- ``dW[ids] += dout`` with ids holding a repeat: NumPy's buffered fancy-index ``+=`` adds once per distinct
  index; ``np.add.at(dW, ids, dout)`` adds every one.
"""

from __future__ import annotations

import math

import numpy as np

from ..reference.shapetext import fmt_shape as _fmt
from .statements import flat_indices, index_of, operand_shape

__all__ = ["Causes"]

#: Broadcast results smaller than this are not named (a (2,) and a (2, 1) are too small to matter).
MIN_BROADCAST = 4


class Causes:
    """Per traced call: the causes seen so far, as (Line, sentence), at most one per line."""

    def __init__(self):
        self.found = []
        self._named = set()
        self._written = {}  # (line, id of the array) -> (mask of the elements written, the parts written)

    def of(self, kind):
        """[(Line, sentence)] of one kind: "broadcast" or "write"."""
        return [(line, text) for line, text, k in self.found if k == kind]

    def named(self, line):
        return id(line) in self._named

    def add(self, line, text, kind):
        if id(line) not in self._named:
            self._named.add(id(line))
            self.found.append((line, text, kind))

    @staticmethod
    def broadcast(stmt, shapes):
        """The first binary operation of the :class:`~gradcheck.diagnose.statements.Statement` ``stmt`` whose
        operands ({name: shape} before it ran) broadcast silently, as a sentence; or None."""
        for expr, left, op, right in stmt.binops:
            s1, s2 = operand_shape(left, shapes), operand_shape(right, shapes)
            if s1 is None or s2 is None or s1 == s2:
                continue
            out = _broadcast_shape(s1, s2)
            if out is None or len(out) < 2 or math.prod(out) < MIN_BROADCAST:
                continue
            if math.prod(out) <= max(math.prod(s1), math.prod(s2)) or (len(s1) == len(s2) and s1 != s2[::-1]):
                continue
            narrow, wide = (right[0], s1) if len(s2) < len(s1) else (left[0], s2)
            return (f"`{expr}`: {_fmt(s1)} {op} {_fmt(s2)} broadcast to {_fmt(out)}; make the shapes agree "
                    f"(e.g. reshape {narrow} to {_fmt(wide)})")
        return None

    def writes(self, line, stmt, frame, arrays):
        """Look at each write of ``line`` (its statement ``stmt``) into one of ``arrays`` ({name: array}), just
        after it ran."""
        if id(line) in self._named:
            return
        for w in stmt.writes:
            arr = arrays.get(w.name)
            index = index_of(w, frame) if arr is not None else None
            if index is None:
                continue
            rows = _row_ids(arr, index) if w.how == "+=" else None
            if rows is not None:  # dW[ids] += …: rows repeat where ids do, without the positions of every element
                counts = np.bincount(rows) if rows.size else None
                if counts is not None and counts.max() > 1:
                    self._repeats(line, w, rows, distinct=int(np.count_nonzero(counts)))
                continue
            flat = flat_indices(arr, index)
            if flat is None or flat.size == 0:
                continue
            if w.how == "+=" and np.bincount(flat).max() > 1:  # O(n): np.unique sorts
                self._repeats(line, w, index, flat)
            elif w.how == "=":
                self._overlap(line, w, arr, flat)

    def _repeats(self, line, w, index, flat=None, distinct=None):
        ids = index if isinstance(index, np.ndarray) else np.asarray(index) if isinstance(index, list) else flat
        if distinct is None and ids is not None and ids.ndim == 1 and ids.size <= 1 << 16:
            distinct = np.unique(ids).size
        count = f"{ids.size} indices, {distinct} distinct" if distinct is not None else ""
        self.add(line, f"adds with repeated indices ({count or 'some elements more than once'}): a fancy-index `+=` "
                       "is buffered and adds once per distinct index, so a repeated index keeps one of its "
                       f"gradients and loses the others; use np.add.at({w.name}, {w.index_text}, {w.value_text})",
                 "write")

    def _overlap(self, line, w, arr, flat):
        key = (id(line), id(arr))
        mask, parts = self._written.get(key) or (np.zeros(arr.size, bool), set())
        part = np.sort(flat).tobytes()
        if part not in parts and mask[flat].any():
            first = np.unravel_index(int(flat[np.argmax(mask[flat])]), arr.shape)
            self.add(line, f"assigns into parts of {w.name} that overlap (an earlier run of the line already wrote "
                           f"{w.name}{list(map(int, first))}): each `=` overwrites the gradient an earlier part left "
                           "there, so only the last one is kept; add into them (`+=`)", "write")
            return
        mask[flat] = True
        parts.add(part)
        self._written[key] = (mask, parts)


def _row_ids(arr, index):
    """The rows of ``arr`` a one-dimensional integer index (a list or array: ``dW[ids]``) selects, made
    non-negative; None for any other index (slices, tuples, masks)."""
    if not isinstance(index, (list, np.ndarray)) or not isinstance(arr, np.ndarray) or arr.ndim < 1:
        return None
    try:
        ids = np.asarray(index)
    except (TypeError, ValueError):
        return None
    if ids.ndim != 1 or ids.dtype.kind not in "iu" or (ids.size and (ids.max() >= len(arr) or ids.min() < -len(arr))):
        return None
    return np.where(ids < 0, ids + len(arr), ids)


def _broadcast_shape(s1, s2):
    """NumPy's broadcast of two shapes, or None if they do not broadcast."""
    out = []
    for d1, d2 in zip((1,) * (len(s2) - len(s1)) + tuple(s1), (1,) * (len(s1) - len(s2)) + tuple(s2)):
        if d1 != d2 and 1 not in (d1, d2):
            return None
        out.append(max(d1, d2))
    return tuple(out)
