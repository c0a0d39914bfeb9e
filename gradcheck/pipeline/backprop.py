"""Reference backprop: NumPy, float64, vectorised over the batch (and over stacked networks).

    forward:  z^l = W^l·a^{l-1} + b^l,  a^l = σ(z^l)             (column convention)
    output:   δ^L = ∂C/∂a^L ⊙ σ'(z^L)    (softmax: its Jacobian-vector product)
    hidden:   δ^l = (W^{l+1}ᵀ δ^{l+1}) ⊙ σ'(z^l)
    grads:    ∂C/∂W^l = δ^l a^{l-1}ᵀ,  ∂C/∂b^l = Σ_N δ^l

for dense layers; every layer kind (convolution, pooling, flatten, normalisation,
dropout, activation) brings its own forward and backward. The per-layer maths lives
in the layer catalogue (:mod:`gradcheck.catalogue`); this module only chains the
layers and the loss. Layers without an activation key pass z on as a (a = z, δ = ∂C/∂a).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..catalogue import LOSSES

EPS = np.finfo(np.float64).eps
#: The smallest output error a loss of squares still sees (smaller ones square to below the smallest normal).
UNSEEN = float(np.sqrt(np.finfo(np.float64).tiny))

__all__ = ["Forward", "backprop", "forward", "backprop_rounding", "loss_value", "sample_losses"]


@dataclass
class Forward:
    """Everything the forward pass computed, one entry per layer.

    ``a_in[l]`` is what layer l's backward needs from its forward (for a dense layer
    the input it multiplied, a^{l-1} with the constant 1 row or column for the augmented
    bias); ``z[l]`` and ``a[l]`` are (units, N) in the column convention and (N, units)
    in the row convention, (N, C, H, W) for images.
    """

    a_in: list
    z: list
    a: list

    @property
    def output(self):
        return self.a[-1]


def forward(spec, params, X, tape=None) -> Forward:
    """Run the network on X (column: (input, N); row: (N, input); images (N, C, H, W)); leading stack axes
    allowed."""
    conv, a = spec.conv, X
    out = Forward([], [], [])
    for ly, p in zip(spec.layers, params):
        if tape is not None:
            tape.at(ly.index)
        z, a_in = ly.forward(p, a, conv, spec.bias, tape)
        a = ly.act.forward(z, conv.unit_axis) if ly.has_activation else z
        if tape is not None and ly.has_activation:
            tape.record("forward", "a", f"{ly.activation}(z)", {"z": z.shape}, a.shape)
        out.a_in.append(a_in)
        out.z.append(z)
        out.a.append(a)
    return out


def fused_loss(spec):
    """The loss if it is computed from the output layer's z (bce on sigmoid, cross-entropy on softmax), else None."""
    loss, last = LOSSES[spec.loss], spec.layers[-1]
    fits = loss.value_from_z is not None and last.has_activation and last.activation == loss.output
    return loss if fits else None


def loss_value(spec, a, Y, z=None):
    """C for output a and targets Y (same layout); an array if a has leading stack axes.

    Given the output layer's pre-activation ``z``, a loss defined with its output
    activation is computed from z, stably (see :class:`~gradcheck.catalogue.losses.Loss`).
    """
    conv, loss = spec.conv, LOSSES[spec.loss]
    n, k = a.shape[conv.sample_axis], a.shape[conv.unit_axis]
    if z is not None and fused_loss(spec) is not None:
        return loss.value_from_z(z, Y, n, k, conv.unit_axis)
    return loss.value(a, Y, n, k)


def sample_losses(spec, a, Y, z=None):
    """Each sample's share of C, (..., N), so that C = Σ_n of it; ``a`` (and ``z``) may have leading stack axes.

    Every sample goes to a stack axis of its own, as a batch of one that keeps the
    whole batch's N in the loss's normalisation.
    """
    conv, loss = spec.conv, LOSSES[spec.loss]
    n, k = a.shape[conv.sample_axis], a.shape[conv.unit_axis]

    def apart(x):  # (..., K, N) -> (..., N, K, 1); (..., N, K) -> (..., N, 1, K)
        return np.swapaxes(x, -1, -2)[..., None] if conv.name == "column" else x[..., None, :]

    if z is not None and fused_loss(spec) is not None:
        return loss.value_from_z(apart(z), apart(Y), n, k, conv.unit_axis)
    return loss.value(apart(a), apart(Y), n, k)


def backprop(spec, params, X, Y, tape=None, tweak=None):
    """Return (C, grads): grads is a list of {"W": dW, "b": db} with exactly the params' shapes
    ({"gamma", "beta"} for norms, {} for layers without params; no entry for a dropout mask).

    ``tweak`` (a :class:`gradcheck.pipeline.mistakes.Hypothesis`, used by the diagnosis only) replaces
    steps by known mistakes, so a user's wrong gradient can be matched to its cause.
    """
    conv, loss = spec.conv, LOSSES[spec.loss]
    fw = forward(spec, params, X, tape)
    a = fw.output
    n, k = a.shape[conv.sample_axis], a.shape[conv.unit_axis]
    C = float(loss_value(spec, a, Y, fw.z[-1]))
    fused = fused_loss(spec) is not None and tweak is None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # ∂C/∂a of a saturated output: δ from z
        da = loss.grad(a, Y, n, k)
    if tape is not None:
        tape.record("backward", "da", loss.grad_formula, {"a": a.shape, "y": Y.shape}, da.shape)
    if tweak is not None:
        da = tweak.loss_grad(da, a, Y)
    grads = [None] * len(spec.layers)
    for ly in reversed(spec.layers):
        i = ly.index
        if tape is not None:
            tape.at(i)
        z, a = fw.z[i], fw.a[i]
        if fused and i == len(spec.layers) - 1:
            delta = loss.delta_from_z(z, a, Y, n, k, conv.unit_axis)
        elif not ly.has_activation:
            delta = da
        elif tweak is not None and tweak.act_grad(i) is not None:
            delta = tweak.act_grad(i)(ly.act, da, z, a, conv.unit_axis)
        else:
            delta = ly.act.vjp(da, z, a, conv.unit_axis)
        if tape is not None and ly.has_activation:
            if ly.act.derivative is not None:
                expr, ops = f"da * {ly.activation}'(z)", {"da": da.shape, f"{ly.activation}'(z)": z.shape}
            else:
                axis = 0 if conv.name == "column" else 1
                expr, ops = f"a * (da - (da * a).sum(axis={axis}, keepdims=True))", {"a": a.shape, "da": da.shape}
            tape.record("backward", "delta", expr, ops, delta.shape)
        a_in = fw.a_in[i] if tweak is None else tweak.layer_input(i, fw)
        grads[i], da = ly.backward(delta, a_in, params[i], conv, spec.bias, tape)
        if tweak is not None:
            grads[i] = tweak.grads(i, grads[i])
            da = tweak.carry(i, da, delta, a_in, params[i])
    return C, grads


def _magnitude(cache):
    """|x| of every array in a layer's forward cache (an array, a tuple of arrays and sizes, or None)."""
    if isinstance(cache, np.ndarray):
        return np.abs(cache)
    if isinstance(cache, tuple):
        return tuple(_magnitude(c) for c in cache)
    return cache


def backprop_rounding(spec, params, X, Y):
    """Per element, the rounding error any float64 backprop may have, in units of ε (dicts shaped like params).

    The reference backprop run on magnitudes: |a| + |y| (plus the terms the output's z
    summed) in place of the output error a − y, |W|, |a_prev| and |σ'(z)| in place of
    their values, so nothing cancels. Along
    with it runs the error: each σ'(z) is good to ε·(|σ'| + 1) (1 − a² for a saturated
    tanh is 0 to within ε, not to within ε·0), each product adds ε times its magnitude.
    An element whose gradient is the small difference of large terms is judged to that.
    """
    conv, loss = spec.conv, LOSSES[spec.loss]
    fw = forward(spec, params, X)
    a, z = fw.output, fw.z[-1]
    n, k = a.shape[conv.sample_axis], a.shape[conv.unit_axis]
    fused = fused_loss(spec) is not None
    with np.errstate(all="ignore"):
        unit = np.abs(loss.delta_from_z(z, a + 1.0, a, n, k, conv.unit_axis) if fused else loss.grad(a + 1.0, a, n, k))
    # The output a is itself good only to ε times the terms its z summed (|W|·|a_prev| + |b|): an output that
    # cancels to 0 up to rounding makes a − y, and every gradient, rounding of that size.
    last, inputs = spec.layers[-1], (fw.a[-2] if len(spec.layers) > 1 else X)
    terms = np.abs(last.forward({key: np.abs(v) for key, v in params[-1].items()}, np.abs(inputs), conv,
                                spec.bias)[0]) if "W" in params[-1] else 0.0
    # Below √tiny an output error's square underflows: the loss, and so any finite difference, cannot see it.
    size = (np.abs(a) + np.abs(Y) + terms + UNSEEN) * np.where(np.isfinite(unit), unit, 0.0)
    err = size
    out = [None] * len(spec.layers)
    for ly in reversed(spec.layers):
        i = ly.index
        if ly.has_activation and not (fused and i == len(spec.layers) - 1):
            slope = np.abs(ly.act.derivative(fw.z[i], fw.a[i]) if ly.act.derivative is not None else fw.a[i])
            # err·ε: an error-dominated δ times a slope that is itself 0 to within ε (second order)
            size, err = size * slope, err * (slope + EPS) + size * (slope + 1.0)
        absolute = {key: np.abs(v) for key, v in params[i].items()}
        magnitude = _magnitude(fw.a_in[i])
        grads, size = ly.backward_magnitude(size, magnitude, absolute, conv, spec.bias)
        grad_err, err = ly.backward_magnitude(err, magnitude, absolute, conv, spec.bias)
        size, err = np.abs(size), np.abs(err) + np.abs(size)
        out[i] = {key: np.abs(grad_err[key]) + np.abs(grads[key]) for key in grads}
    return out
