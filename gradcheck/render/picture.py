"""A heat map as inline SVG: a :class:`Picture` (a grid of relative errors) drawn as coloured rectangles.

No plotting library, no script, no URL: an HTML page with it renders offline, and a notebook cell
needs nothing installed. :mod:`gradcheck.render.heatmap` makes the pictures of a check result.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

__all__ = ["Picture", "svg"]

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
