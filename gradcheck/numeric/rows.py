"""Rows of units: a changed unit's z over the batch as one row, and how far up the layers it stays one row.

A perturbation of a dense layer's element moves one unit's z, a row (N,) of the batch
(:mod:`gradcheck.numeric.perturbed`); layers that treat each feature on its own (activations,
batchnorm on vectors) keep it one row, up to the next layer that mixes units.
"""

from __future__ import annotations

import numpy as np

__all__ = ["row_top", "unit_rows", "with_rows"]


def row_top(spec, i):
    """The last layer above layer i up to which a changed unit's row stays one row (i if none; never the output
    layer, whose loss needs the whole output)."""
    layers = spec.layers
    while (i + 2 < len(layers) and getattr(layers[i + 1], "rowwise", False) and layers[i + 1].act.elementwise
           and spec.consumers(i) == [i + 1] and layers[i + 1].inputs == (i,)):  # a link of a chain
        i += 1
    return i


def unit_rows(batch, conv):
    """A (units, N) view of a batch of vectors in either convention."""
    return batch if conv.samples_are_columns else batch.T


def with_rows(batch, unit, rows, conv):
    """A stack (P, ...) of copies of ``batch`` with unit ``unit[p]`` replaced by ``rows[p]`` (N,)."""
    p = len(unit)
    stack = np.repeat(batch[None].astype(rows.dtype), p, axis=0)
    if conv.samples_are_columns:
        stack[np.arange(p), unit, :] = rows
    else:
        stack[np.arange(p), :, unit] = rows
    return stack
