"""gradcheck's own backprop a finite difference's step either side of θ, one element at a time.

Where the backprop and the finite difference disagree at an element, the backprop's gradient field around θ says
whether the difference's steps are wider than a feature of the loss: a difference quotient
(C(θ + s·e) − C(θ − s·e))/2s is the mean of ∂C/∂θ_e over [θ − s, θ + s], so where the backprop's own ∂C/∂θ_e
varies within the steps over a range that holds the difference's value, the difference measures that variation,
not the slope at θ (an input of 5e90 under a weight of 6e-205: the gate it feeds saturates within 1e-91 of θ, a
slope of −1.6e32 there moves the loss by less than its rounding, and every quotient sees the slope beside it). A
backprop that is wrong is wrong a step away too, and its field does not reach the difference's value: this never
excuses it.
"""

from __future__ import annotations

import numpy as np

from .backprop import backprop

__all__ = ["gradients_around"]


def gradients_around(spec, params, X, Y, elements, steps, offsets=(1.0, -1.0)):
    """(P, m): the backprop's ∂C/∂θ of each element (layer, param name, flat index) of ``elements`` at θ + o·s·e for
    each of the m ``offsets`` o, s its entry of ``steps`` (P,); a backward pass each. ``Y``: the targets the losses
    compute with."""
    out = np.full((len(elements), len(offsets)), np.nan)
    for p, ((layer, key, flat), s) in enumerate(zip(elements, steps)):
        for side, sign in enumerate(offsets):
            moved = [dict(q) for q in params]
            value = np.array(params[layer][key], dtype=float)  # a copy: the caller's params stay as they are
            value.flat[flat] += sign * s
            moved[layer][key] = value
            with np.errstate(all="ignore"):
                _, grads = backprop(spec, moved, X, Y)
            out[p, side] = np.asarray(grads[layer][key], float).flat[flat]
    return out
