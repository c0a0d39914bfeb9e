"""Finite differences: central differences on every element, vectorised.

    ∂C/∂θ_i ≈ (C(θ + h_i e_i) − C(θ − h_i e_i)) / (2 h_i),   h_i = ε^{1/3} · max(1, |θ_i|)

ε^{1/3} (≈ 6e-6 in float64) balances the O(h²) truncation error against the O(ε/h)
rounding error; scaling by |θ_i| keeps the step relative for large parameters. The
divisor is the step actually taken, ``(θ+h) − (θ−h)``, not ``2h``, which differ by
rounding.

For a network, all 2·D perturbed copies of the parameters are stacked on a leading
axis and run through one batched forward pass (in memory-bounded chunks), so there is
no Python loop over elements. The same pass reports *kinks*: elements whose ±h
perturbation moves some pre-activation z across a point where σ is not
differentiable (relu at 0), where a finite difference is not a derivative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "STEP_SCALE",
    "NumericGradient",
    "central_difference",
    "default_step",
    "flatten",
    "numeric_gradient",
    "unflatten",
]

STEP_SCALE = np.finfo(np.float64).eps ** (1 / 3)
CHUNK_BYTES = 64 * 2**20

#: Finite-difference stencils: offsets (in steps), weights, and the step scale that
#: balances truncation against rounding for each (ε^{1/3} for O(h²), ε^{1/5} for O(h⁴)).
METHODS = {
    "central": ((1, -1), (0.5, -0.5), STEP_SCALE),
    "five-point": ((2, 1, -1, -2), (-1 / 12, 8 / 12, -8 / 12, 1 / 12), np.finfo(np.float64).eps ** (1 / 5)),
}


def default_step(theta, method="central"):
    """h_i = ε^{1/3}·max(1, |θ_i|) for float64 θ (any shape); ε^{1/5} for "five-point"."""
    return METHODS[method][2] * np.maximum(1.0, np.abs(theta))


def flatten(arrays):
    """Concatenate a list of arrays into one float64 vector."""
    return np.concatenate([np.ravel(a) for a in arrays]).astype(np.float64) if arrays else np.zeros(0)


def unflatten(vec, shapes):
    """Split ``vec`` (..., D) into arrays of ``shapes`` with the leading axes kept."""
    out, at = [], 0
    lead = vec.shape[:-1]
    for s in shapes:
        size = int(np.prod(s, dtype=np.int64))
        out.append(vec[..., at:at + size].reshape(lead + tuple(s)))
        at += size
    return out


def central_difference(f_batch, theta, step=None, chunk=None, extra=None, method="central"):
    """Central differences of a function evaluated on stacks of points.

    ``f_batch(T)`` maps T of shape (P, D) to P values; ``theta`` is (D,). ``method``
    is a key of :data:`METHODS`. Returns the gradient (D,) and, if ``extra`` is given,
    the per-element OR of ``extra(T)`` over the perturbed points (used to flag kinks).

    >>> g = central_difference(lambda T: (T ** 3).sum(axis=1), np.array([1.0, -2.0]))
    >>> np.allclose(g, [3.0, 12.0])
    True
    """
    if method not in METHODS:
        raise ValueError(f"method {method!r}: expected one of {', '.join(METHODS)}")
    offsets, weights, _ = METHODS[method]
    theta = np.asarray(theta, dtype=np.float64)
    d, m = theta.size, len(offsets)
    h = default_step(theta, method) if step is None else np.broadcast_to(np.asarray(step, float), theta.shape)
    chunk = d if chunk is None else max(1, int(chunk))
    grad = np.empty(d)
    flags = np.zeros(d, dtype=bool)
    for start in range(0, d, chunk):
        idx = np.arange(start, min(d, start + chunk))
        c = len(idx)
        T = np.repeat(theta[None, :], m * c, axis=0)
        rows = np.arange(c)
        for j, o in enumerate(offsets):
            T[j * c + rows, idx] += o * h[idx]
        # The step actually taken (θ+h)−(θ−h) differs from 2h by rounding; divide by it.
        taken = (T[rows, idx] - T[(m - 1) * c + rows, idx]) / (offsets[0] - offsets[-1])
        values = np.asarray(f_batch(T), dtype=np.float64).reshape(m, c)
        grad[idx] = np.tensordot(weights, values, axes=1) / taken
        if extra is not None:
            flags[idx] = np.asarray(extra(T), bool).reshape(m, c).any(axis=0)
    return (grad, flags) if extra is not None else grad


@dataclass
class NumericGradient:
    """Finite-difference gradients in the params' layout, the kink flags, and the steps used."""

    grads: list
    kinks: list
    steps: list

    def __repr__(self):
        n = sum(int(k.sum()) for layer in self.kinks for k in layer.values())
        return f"NumericGradient({len(self.grads)} layers, {n} elements across a kink)"


def _stack_forward(spec, params, a_prev, start, first):
    """Output and z's of a stack of networks that differ only in layer ``start``'s params.

    ``first`` holds layer ``start``'s params with a leading stack axis P. The layers
    above share their weights, so the stack is folded into the sample axis there and
    each of them is one matrix product instead of P small ones.
    """
    conv = spec.conv
    ly = spec.layers[start]
    z, _ = ly.layer.forward(first, a_prev, conv, spec.bias)
    p = z.shape[0]
    zs = {start: z}
    a = conv.fold(ly.act.forward(z, conv.unit_axis))
    for ly in spec.layers[start + 1:]:
        z, _ = ly.layer.forward(params[ly.index], a, conv, spec.bias)
        zs[ly.index] = conv.unfold(z, p)
        a = ly.act.forward(z, conv.unit_axis)
    return conv.unfold(a, p), zs


def numeric_gradient(spec, params, X, Y, step=None, method="central") -> NumericGradient:
    """Central-difference ∂C/∂θ for every element of ``params`` (list of {"W", "b"} dicts).

    Each layer's elements are perturbed together: the forward pass below that layer is
    shared, the perturbed layer runs as a stack, and the layers above run on the stack
    folded into the batch. Only :func:`~gradcheck.backprop.forward`'s maths is used (via
    the layer catalogue), never a derivative.
    """
    from .backprop import forward, loss_value  # here, so the pytest plugin can load without SymPy
    base = forward(spec, params, X)
    n = X.shape[spec.conv.sample_axis]
    grads, kinks, steps = [], [], []
    for ly in spec.layers:
        i = ly.index
        keys = list(params[i])
        shapes = [params[i][k].shape for k in keys]
        theta = flatten([params[i][k] for k in keys])
        a_prev = X if i == 0 else base.a[i - 1]
        kinked = [m.index for m in spec.layers[i:] if m.act.kinks]
        cache = {}

        def f_batch(T, keys=keys, shapes=shapes, a_prev=a_prev, i=i, cache=cache):
            out, zs = _stack_forward(spec, params, a_prev, i, dict(zip(keys, unflatten(T, shapes))))
            cache["zs"] = zs
            return loss_value(spec, out, Y)

        def crossed(T, cache=cache, kinked=kinked):
            hit = np.zeros(len(T), dtype=bool)
            for m in kinked:
                for kink in spec.layers[m].act.kinks:
                    moved = np.sign(cache["zs"][m] - kink) != np.sign(base.z[m] - kink)
                    hit |= moved.reshape(len(T), -1).any(axis=1)
            return hit

        per_net = 8 * (theta.size + sum(m.units * n * 3 for m in spec.layers[i:]))
        chunk = max(1, CHUNK_BYTES // (len(METHODS[method][0]) * per_net))
        h = default_step(theta, method) if step is None else np.full(theta.shape, float(step))
        g, flags = central_difference(f_batch, theta, h, chunk, extra=crossed, method=method)
        grads.append(dict(zip(keys, unflatten(g, shapes))))
        kinks.append(dict(zip(keys, unflatten(flags, shapes))))
        steps.append(dict(zip(keys, unflatten(h, shapes))))
    return NumericGradient(grads, kinks, steps)
