"""gradcheck's own backprop a finite difference's step either side of θ, one element at a time.

Where the backprop and the finite difference disagree at an element, the backprop's gradient field around θ says
whether the disagreement is local: a difference quotient (C(θ + s·e) − C(θ − s·e))/2s is the mean of ∂C/∂θ_e over
[θ − s, θ + s], so where the backprop's own ∂C/∂θ_e at θ ± s agrees with the quotient and only its value at θ
itself does not, the slope at θ holds within a width narrower than the step, and no step a float64 difference can
take resolves it (an input of 5e90 under a weight of 6e-205: the gate it feeds saturates within 1e-91 of θ, a
slope of −1.6e32 there moves the loss by less than its rounding, and every quotient sees the slope beside it).
A backprop that is wrong is wrong at θ ± s too: this never excuses it.
"""

from __future__ import annotations

import numpy as np

from .backprop import backprop

__all__ = ["gradients_around"]


def gradients_around(spec, params, X, Y, elements, steps):
    """(P, 2): the backprop's ∂C/∂θ of each element (layer, param name, flat index) of ``elements`` at θ + s·e and
    θ − s·e, s its entry of ``steps`` (P,); two backward passes per element. ``Y``: the targets the losses compute
    with."""
    out = np.full((len(elements), 2), np.nan)
    for p, ((layer, key, flat), s) in enumerate(zip(elements, steps)):
        for side, sign in enumerate((1.0, -1.0)):
            moved = [dict(q) for q in params]
            value = np.array(params[layer][key], dtype=float)  # a copy: the caller's params stay as they are
            value.flat[flat] += sign * s
            moved[layer][key] = value
            with np.errstate(all="ignore"):
                _, grads = backprop(spec, moved, X, Y)
            out[p, side] = np.asarray(grads[layer][key], float).flat[flat]
    return out
