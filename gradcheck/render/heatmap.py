"""A picture of the blame: each failing tensor drawn as a grid of its elements' relative errors.

Drawn as inline SVG by :mod:`gradcheck.render.picture` (no plotting library, no script, no URL: the
page renders offline, the notebook cell needs nothing installed). Rows and columns are the tensor's:
a vector is one row, a tensor of more than two axes has its last axis as columns and the others
flattened into rows; a grid of more than :data:`MAX_CELLS` per side shows each block's largest error.
An element that passes (or is only inconclusive) is pale green; a failing one's colour runs from
orange at the tolerance to dark red at a relative error of 1 (log scale), so a transposed gradient
shows as a red grid with a pale diagonal and swapped gradients as solid red. Only formats that can
draw (HTML) show it; the others skip it.
"""

from __future__ import annotations

import math

import numpy as np

from ..judge.bands import errors
from .picture import Picture

__all__ = ["heatmap_blocks"]

#: Cells per side at most; a bigger tensor is shown block by block (each block's largest error).
MAX_CELLS = 48


def _as_2d(a):
    a = np.asarray(a, float)
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(1, -1)
    return a.reshape(-1, a.shape[-1])


def _pooled(rel):
    """(grid, block): ``rel`` with each block of at most MAX_CELLS² cells replaced by its largest error."""
    r, c = rel.shape
    br, bc = math.ceil(r / MAX_CELLS), math.ceil(c / MAX_CELLS)
    if (br, bc) == (1, 1):
        return rel, (1, 1)
    padded = np.full((math.ceil(r / br) * br, math.ceil(c / bc) * bc), np.nan)
    padded[:r, :c] = rel
    blocks = padded.reshape(padded.shape[0] // br, br, padded.shape[1] // bc, bc)
    with np.errstate(invalid="ignore"):
        return np.nanmax(np.where(np.isnan(blocks), -1.0, blocks), axis=(1, 3)), (br, bc)


def heatmap_blocks(result):
    """A :class:`Picture` per failing opinion of each failing tensor whose values have the tensor's shape."""
    out = []
    for t in result.tensors:
        numeric = t.values.get("numeric")
        if t.passed or numeric is None:
            continue
        for op in t.checked:
            v = t.values.get(op)
            if v is None or np.shape(v) != tuple(t.shape) or t.opinion_passed(op):
                continue
            _, rel = errors(v, numeric)
            failing = np.isin(t.verdict(op), ("wrong", "suspicious"))
            rel = np.where(failing, np.maximum(rel, result.rtol * 1.01), 0.0)  # passing: 0 (inconclusive too)
            grid, block = _pooled(_as_2d(rel))
            rows = [[None if not np.isfinite(e) or e < 0 else float(e) for e in row] for row in grid]
            shape = "×".join(map(str, t.shape)) or "scalar"
            axes = (f" (rows: its first {len(t.shape) - 1} axes, {'×'.join(map(str, t.shape[:-1]))}; columns: the "
                    f"last)") if len(t.shape) > 2 else ""
            out.append(Picture(f"{t.name} ({shape}): {op} vs finite differences{axes}", rows, result.rtol, block))
    return out
