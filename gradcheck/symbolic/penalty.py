"""The regularisation term in the symbolic network: R written in the weight symbols, shared out over the samples.

The derivation is per sample, C = Σ_n C_n, so each C_n carries R/N (the whole batch's C,
where a layer ties the samples together, carries R itself): Σ_n ∂C_n/∂w then adds ∂R/∂w
once, as in C. λ is the symbol ``λ`` in the forms shown; its value is put in before
NumPy evaluates them (:func:`numbers`).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..catalogue.regularization import sympy_term, weight_entries

__all__ = ["LAMBDA", "add_penalty", "numbers"]

LAMBDA = sp.Symbol("λ", positive=True)


def add_penalty(spec, net):
    """Add the spec's regularisation term to ``net.loss`` (a :class:`~gradcheck.symbolic.network.Network`); return
    {weight symbol: ∂(its share)/∂w} ({} without regularisation)."""
    reg = spec.regularization
    if reg is None:
        return {}
    weights = []
    for layer, key, mask in weight_entries(spec):
        symbols = net.params[layer][key]
        weights += [s for idx, s in np.ndenumerate(symbols) if mask is None or mask[idx]]
    share = sympy_term(reg, weights, net.N, LAMBDA)
    if not net.batch:
        share = share / net.N
    net.loss = net.loss + share
    return {w: sp.diff(share, w) for w in weights}


def numbers(spec):
    """{λ: its value} to put in before evaluating."""
    reg = spec.regularization
    return {} if reg is None else {LAMBDA: sp.Float(reg.lam)}
