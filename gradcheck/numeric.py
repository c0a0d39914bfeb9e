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
differentiable (relu at 0), or changes which element of a max-pooling window is the
maximum, where a finite difference is not a derivative.
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

EPS = np.finfo(np.float64).eps
EPS32 = float(np.finfo(np.float32).eps)
STEP_SCALE = EPS ** (1 / 3)
CHUNK_BYTES = 64 * 2**20
#: Rounding of one loss evaluation, in units of ε·|C|, assumed by the error bound's floor.
ROUND_ULPS = 8

#: Finite-difference stencils: the offsets evaluated (in steps) and the step scale that
#: balances truncation against rounding for each (ε^{1/3} for O(h²), ε^{1/5} for O(h⁴)).
#: "richardson" extrapolates central differences at h and 2h, (4·g(h) − g(2h))/3, which
#: is the five-point stencil (kept under that name too).
METHODS = {
    "central": ((1, -1), STEP_SCALE),
    "richardson": ((1, -1, 2, -2), EPS ** (1 / 5)),
    "five-point": ((1, -1, 2, -2), EPS ** (1 / 5)),
}
#: Complex step: C(θ + i·h·e_i) has imaginary part h·∂C/∂θ_i + O(h³), with no subtraction,
#: so h can be tiny and the result is exact to rounding, where every operation is analytic.
COMPLEX_STEP = 1e-20
#: Every method a caller may name: "auto" picks the best one for the function.
METHOD_NAMES = ("auto", *METHODS, "complex-step")


def default_step(theta, method="central"):
    """h_i = ε^{1/3}·max(1, |θ_i|) for float64 θ (any shape); ε^{1/5} for "richardson"/"five-point"."""
    scale = COMPLEX_STEP if method == "complex-step" else METHODS[method][1]
    return scale * np.maximum(1.0, np.abs(theta))


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


def check_method(method, allowed=METHOD_NAMES, where="method"):
    """Raise ValueError naming ``where`` unless ``method`` is one of ``allowed``."""
    if method not in allowed:
        raise ValueError(f"{where}={method!r}: expected one of {', '.join(allowed)}")


def error_bound(g1, g2, fmax, h, eps=EPS):
    """Error estimate of a central difference g(h): its truncation |g(h) − g(2h)|/3 (the O(h²) term, which
    Richardson extrapolation removes, so a safe bound for that too), plus a floor of
    :data:`ROUND_ULPS`·ε·max|C|/h for the rounding of the loss at its own scale."""
    return np.abs(g1 - g2) / 3 + ROUND_ULPS * eps * fmax / h


def central_difference(f_batch, theta, step=None, chunk=None, extra=None, method="central", bound=False):
    """Finite differences of a function evaluated on stacks of points.

    ``f_batch(T)`` maps T of shape (P, D) to P values; ``theta`` is (D,). ``method``
    is "central", "richardson" (or "five-point") or "complex-step" (then ``f_batch``
    must accept complex T). Returns the gradient (D,); with ``bound=True`` also the
    per-element error estimate (D,) (central differences are then taken at h and 2h);
    if ``extra`` is given, last, the per-element OR of ``extra(T)`` over the perturbed
    points (used to flag kinks).

    >>> g = central_difference(lambda T: (T ** 3).sum(axis=1), np.array([1.0, -2.0]))
    >>> np.allclose(g, [3.0, 12.0])
    True
    >>> g, err = central_difference(lambda T: np.sin(T).sum(axis=1), np.array([0.5]), method="richardson",
    ...                             bound=True)
    >>> bool(abs(g[0] - np.cos(0.5)) < 1e-12), bool(abs(g[0] - np.cos(0.5)) <= err[0] < 1e-6)
    (True, True)
    """
    check_method(method, (*METHODS, "complex-step"))
    theta = np.asarray(theta, dtype=np.float64)
    d = theta.size
    h = default_step(theta, method) if step is None else np.broadcast_to(np.asarray(step, float), theta.shape)
    if method == "complex-step":
        offsets = (1,)
    elif bound or method != "central":
        offsets = (1, -1, 2, -2)
    else:
        offsets = (1, -1)
    m = len(offsets)
    chunk = d if chunk is None else max(1, int(chunk))
    grad, err = np.empty(d), np.zeros(d)
    flags = np.zeros(d, dtype=bool)
    for start in range(0, d, chunk):
        idx = np.arange(start, min(d, start + chunk))
        c = len(idx)
        rows = np.arange(c)
        T = np.repeat(theta[None, :], m * c, axis=0).astype(complex if method == "complex-step" else float)
        for j, o in enumerate(offsets):
            T[j * c + rows, idx] += (1j if method == "complex-step" else o) * h[idx]
        values = np.asarray(f_batch(T)).reshape(m, c)
        if method == "complex-step":
            grad[idx] = values[0].imag / h[idx]
            err[idx] = 4 * EPS * np.abs(grad[idx])
        else:
            values = values.real.astype(np.float64)
            # The step actually taken (θ+h)−(θ−h) differs from 2h by rounding; divide by it.
            g1 = (values[0] - values[1]) / (T[rows, idx] - T[c + rows, idx]).real
            grad[idx] = g1
            if m == 4:
                g2 = (values[2] - values[3]) / (T[2 * c + rows, idx] - T[3 * c + rows, idx]).real
                if method != "central":
                    grad[idx] = (4 * g1 - g2) / 3
                err[idx] = error_bound(g1, g2, np.abs(values).max(axis=0), h[idx])
        if extra is not None:
            flags[idx] = np.asarray(extra(T), bool).reshape(m, c).any(axis=0)
    out = (grad, err) if bound else (grad,)
    out += (flags,) if extra is not None else ()
    return out if len(out) > 1 else out[0]


@dataclass
class NumericGradient:
    """Finite-difference gradients in the params' layout, the kink flags, and the steps used."""

    grads: list
    kinks: list
    steps: list
    bounds: list
    method: str = "central"

    def __repr__(self):
        n = sum(int(k.sum()) for layer in self.kinks for k in layer.values())
        return f"NumericGradient({len(self.grads)} layers, {n} elements across a kink)"


def _activate(ly, z, conv):
    return ly.act.forward(z, conv.unit_axis) if ly.has_activation else z


def _stack_forward(spec, params, a_prev, start, first):
    """Output, kink states and the last layer's z of a stack of networks that differ only in layer ``start``'s
    params.

    ``first`` holds layer ``start``'s params with a leading stack axis P. The layers
    above share their weights, so where every one of them treats samples independently
    the stack is folded into the sample axis and each layer is one matrix product
    instead of P small ones; above a batchnorm or dropout layer (whose output depends on
    the whole batch) the stack stays a leading axis.
    """
    conv = spec.conv
    ly = spec.layers[start]
    z, _ = ly.forward(first, a_prev, conv, spec.bias)
    p = z.shape[0]
    states = {start: ly.kink_state(a_prev, z, conv)}
    a = _activate(ly, z, conv)
    fold = all(m.per_sample for m in spec.layers[start + 1:])
    if fold:
        a = conv.fold(a)
    for ly in spec.layers[start + 1:]:
        z, _ = ly.forward(params[ly.index], a, conv, spec.bias)
        out = _activate(ly, z, conv)
        states[ly.index] = ly.kink_state(conv.unfold(a, p), conv.unfold(z, p), conv) if fold else \
            ly.kink_state(a, z, conv)
        a = out
    above = len(spec.layers) > start + 1
    if fold:
        a, z = conv.unfold(a, p), conv.unfold(z, p) if above else z
    return a, states, z


def best_method(spec):
    """The most accurate method for ``spec``: Richardson where every activation is smooth, else central.

    Near a kink (relu at 0) a wider stencil crosses it more often, so kinked networks
    keep the narrow central difference (taken at h and 2h for the error bound).
    """
    return "central" if any(ly.kinked for ly in spec.layers) else "richardson"


def numeric_gradient(spec, params, X, Y, step=None, method="auto") -> NumericGradient:
    """Central-difference ∂C/∂θ for every param element (``params``: list of {"W", "b"}, {"gamma", "beta"},
    {} or {"mask"} dicts; masks are held fixed, not differentiated).

    Each layer's elements are perturbed together: the forward pass below that layer is
    shared, the perturbed layer runs as a stack, and the layers above run on the stack
    folded into the batch. Only :func:`~gradcheck.backprop.forward`'s maths is used (via
    the layer catalogue), never a derivative.
    """
    from .backprop import forward, loss_value  # here, so the pytest plugin can load without SymPy
    check_method(method)
    method = best_method(spec) if method == "auto" else method
    conv = spec.conv
    base = forward(spec, params, X)
    inputs = [X, *base.a[:-1]]
    base_states = [ly.kink_state(a_prev, z, conv) for ly, a_prev, z in zip(spec.layers, inputs, base.z)]
    n = Y.shape[conv.sample_axis]
    grads, kinks, steps, bounds = [], [], [], []
    for ly, trainable in zip(spec.layers, spec.param_shapes()):
        i = ly.index
        keys = list(trainable)
        if not keys:
            for out in (grads, kinks, steps, bounds):
                out.append({})
            continue
        shapes = [params[i][k].shape for k in keys]
        theta = flatten([params[i][k] for k in keys])
        a_prev = inputs[i]
        cache = {}

        def f_batch(T, keys=keys, shapes=shapes, a_prev=a_prev, i=i, cache=cache):
            stacked = {**params[i], **dict(zip(keys, unflatten(T, shapes)))}
            out, states, z_out = _stack_forward(spec, params, a_prev, i, stacked)
            cache["states"] = states
            return loss_value(spec, out, Y, z_out)

        def crossed(T, cache=cache):
            hit = np.zeros(len(T), dtype=bool)
            for m, state in cache["states"].items():
                if state is not None:
                    moved = state != base_states[m]
                    hit |= moved.reshape(len(T), -1).any(axis=1)
            return hit

        per_net = 8 * (theta.size + sum(m.work * n * 3 for m in spec.layers[i:]))
        chunk = max(1, CHUNK_BYTES // (4 * per_net))
        h = default_step(theta, method) if step is None else np.full(theta.shape, float(step))
        g, err, flags = central_difference(f_batch, theta, h, chunk, extra=crossed, method=method, bound=True)
        grads.append(dict(zip(keys, unflatten(g, shapes))))
        bounds.append(dict(zip(keys, unflatten(err, shapes))))
        kinks.append(dict(zip(keys, unflatten(flags, shapes))))
        steps.append(dict(zip(keys, unflatten(h, shapes))))
    return NumericGradient(grads, kinks, steps, bounds, method)
