"""A picture of the blame: each failing tensor drawn as a grid of its elements' relative errors.

Drawn as inline SVG (no plotting library, no script, no URL: the page renders offline, the notebook cell
needs nothing installed). Rows and columns are the tensor's: a vector is one row, a tensor of more than
two axes has its last axis as columns and the others flattened into rows; a grid of more than
:data:`MAX_CELLS` per side shows each block's largest error. An element that passes (or is only
inconclusive) is pale green; a failing one's colour runs from orange at the tolerance to dark red at a
relative error of 1 (log scale), so a transposed gradient shows as a red grid with a pale diagonal and
swapped gradients as solid red. Only formats that can draw (HTML) show it; the others skip it.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np

from ..judge.compare import errors

__all__ = ["Picture", "heatmap_blocks", "svg"]

#: Cells per side at most; a bigger tensor is shown block by block (each block's largest error).
MAX_CELLS = 48
#: The side of a cell in pixels (smaller cells for bigger grids, down to 6: a grid is at most 480 px a side).
CELL = 24
GOOD, BAD_LOW, BAD_HIGH, MISSING = (232, 243, 232), (253, 190, 110), (140, 0, 0), (60, 60, 60)


@dataclass
class Picture:
    """A heat map: ``grid`` rows of relative errors of the failing elements (0 where an element passes, None where
    not finite), its caption, the tolerance, and how many elements each cell stands for (``block``: rows ×
    columns)."""

    caption: str
    grid: list
    rtol: float
    block: tuple = (1, 1)
    kind = "picture"


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


def _colour(e, rtol):
    if e is None:
        return MISSING
    if e <= rtol:
        return GOOD
    lo = math.log10(max(rtol, 1e-16))
    s = min(1.0, (math.log10(e) - lo) / max(-lo, 1e-9))
    return tuple(round(a + (b - a) * s) for a, b in zip(BAD_LOW, BAD_HIGH))


def svg(p):
    """The picture as an inline ``<figure>`` holding an SVG grid, a caption and a colour key."""
    rows, cols = len(p.grid), max(len(r) for r in p.grid)
    cell = max(6, min(CELL, 480 // max(cols, 1), 480 // max(rows, 1)))
    width, height = cols * cell, rows * cell
    rects = []
    for i, row in enumerate(p.grid):
        for j, e in enumerate(row):
            where = f"[{i}, {j}]" if p.block == (1, 1) else f"block [{i}, {j}]"
            tip = f"{where}: rel err {e:.3g}" if e is not None else f"{where}: not finite"
            rects.append(f'<rect x="{j * cell}" y="{i * cell}" width="{cell}" height="{cell}" '
                         f'fill="rgb{_colour(e, p.rtol)}"><title>{tip}</title></rect>')
    pooled = "" if p.block == (1, 1) else f"; each cell the largest of {p.block[0]}×{p.block[1]} elements"
    key = (f'<span style="background:rgb{GOOD};padding:0 .4em">passes</span> '
           f'<span style="background:linear-gradient(90deg,rgb{BAD_LOW},rgb{BAD_HIGH});color:#fff;'
           f'padding:0 .4em">{p.rtol:g} … ≥ 1</span>')
    return (f'<figure style="display:inline-block;margin:.3rem 1rem .8rem 0;vertical-align:top">'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(p.caption)}" '
            f'style="border:1px solid #999" shape-rendering="crispEdges">{"".join(rects)}</svg>'
            f'<figcaption style="font-size:.85em">{html.escape(p.caption)}{pooled}<br>rel err: {key}</figcaption>'
            "</figure>")
