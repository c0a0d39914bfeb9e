"""f at points that move one element of x at a time, for a function check (:mod:`gradcheck.numeric.function`).

A user's f is called once per point; these stacks of points, each θ with one element moved, are what its finite
differences are made from. :class:`Probe` remembers which element each point moved and by how much (the step taken,
as θ + h rounds), :func:`mover` evaluates any elements at any steps, and :func:`at_twice` adds the points at ±2h to
those at ±h.
"""

from __future__ import annotations

import numpy as np

from .stencils import CHUNK_BYTES, central_difference

__all__ = ["Probe", "at_twice", "mover"]


class Probe:
    """Wraps f_batch; remembers, for every perturbed point, which element moved, by how much, and f there."""

    def __init__(self, f_batch, theta):
        self.f_batch, self.theta = f_batch, theta
        self.elem, self.off, self.values = [], [], []

    def __call__(self, T):
        values = self.f_batch(T)
        diff = T - self.theta
        elem = np.abs(diff).argmax(axis=1)
        self.elem.append(elem)
        self.off.append(diff[np.arange(len(T)), elem])
        self.values.append(values)
        return values

    def points(self, f0):
        """Per element: f and the step actually taken on the positive side, then on the negative side (NaN where
        there was none), and max |f| seen."""
        d = self.theta.size
        elem, off, values = (np.concatenate(v) for v in (self.elem, self.off, self.values))
        out = np.full((4, d), np.nan)
        for row, side in enumerate((off > 0, off < 0)):
            out[2 * row, elem[side]], out[2 * row + 1, elem[side]] = values[side], off[side]
        fmax = np.full(d, abs(f0))
        np.maximum.at(fmax, elem, np.abs(values))
        return out, fmax


def mover(f_batch, theta, elements, crossings=False):
    """``evaluate(sel, steps)``: (values, crossed, taken) (m, p) of f with element ``elements[sel[p]]`` moved by
    ``steps[r, p]``; no kink states here (crossed: all False with ``crossings``, else None)."""
    d = theta.size

    def evaluate(sel, steps):
        m, p = steps.shape
        T = np.repeat(theta[None, :], m * p, axis=0)
        rows, cols = np.arange(m * p), np.tile(elements[sel], m)
        T[rows, cols] += steps.ravel()
        taken = (T[rows, cols] - theta[cols]).reshape(m, p)
        size = max(1, CHUNK_BYTES // (8 * d))
        values = np.concatenate([f_batch(T[r:r + size]) for r in range(0, len(T), size)]).reshape(m, p)
        return values, (np.zeros((m, p), dtype=bool) if crossings else None), taken
    return evaluate


def at_twice(f_batch, theta, idx, near, h2, chunk, f0):
    """(values, steps taken) (4, len(idx)) at ±h (from ``near``, :meth:`Probe.points`) and ±2h (``h2``)."""
    def sub_batch(T):  # f at points that move only the elements ``idx``
        full = np.repeat(theta[None, :], len(T), axis=0)
        full[:, idx] = T
        return f_batch(full)

    p2 = Probe(sub_batch, theta[idx])
    central_difference(p2, theta[idx], h2, chunk)
    wide, _ = p2.points(f0)
    values = np.stack([near[0, idx], near[2, idx], wide[0], wide[2]])
    taken = np.stack([near[1, idx], near[3, idx], wide[1], wide[3]])
    return values, taken
