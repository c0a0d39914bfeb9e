"""A SymPy derivation (:class:`~gradcheck.symbolic.derive.Derivation`) as blocks: forward pass, cost, δ's, elements.

A notebook shows a derivation this way; the derivation reports
(:mod:`gradcheck.reports.derivation`) walk through the same quantities at length.
"""

from __future__ import annotations

import sympy as sp

from .document import Equations, Heading, Para, Table
from .mathprint import Math, Partial

__all__ = ["derivation_blocks"]


def derivation_blocks(d):
    """Blocks of a derivation ``d``: the equations per sample, then one row per parameter element."""
    C_n = sp.Symbol("C_n")
    blocks = [Heading(f"SymPy derivation: {d.spec.describe()}", 2),
              Para("Forward pass and cost, per sample:"),
              Equations([(Math(s), Math(e)) for s, e in d.forward.items()] + [(Math(C_n), Math(d.loss))]),
              Para("Error terms δ = ∂C/∂z, from the output layer down:"),
              Equations([(Math(s), Math(e)) for s, e in d.deltas.items()])]
    headers = ["element", "θ", Math(Partial(C_n, sp.Symbol("theta")))] + (["expanded"] if d.expanded else [])
    rows = []
    for e in d.elements:
        label = f"{e.name}[{', '.join(map(str, e.index))}]"
        row = [label, Math(e.symbol), Math(e.chain_rule)]
        if d.expanded:
            row.append(Math(e.expanded, wrap=True) if e.expanded is not None else "—")
        rows.append(row)
    blocks.append(Table(headers, rows))
    return blocks
