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
from ..catalogue.losses import loss_of
from ..catalogue.regularization import penalty, penalty_grads

__all__ = ["Forward", "ReferencePass", "backprop", "cost", "forward", "loss_frame", "loss_value", "pass_back",
           "reference_pass", "sample_losses", "unrows"]


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
    X: object = None

    @property
    def output(self):
        return self.a[-1]

    def a_prev(self, ly):
        """What layer ``ly`` takes: the output of the layer (or the network input) it reads, or for a layer with
        several inputs the list of them."""
        got = [self.X if j < 0 else self.a[j] for j in ly.inputs]
        return got if ly.multi_input else got[0]


def forward(spec, params, X, tape=None) -> Forward:
    """Run the network on X (column: (input, N); row: (N, input); images (N, C, H, W); sequences (N, T, D); token
    ids (N, T)); leading stack axes allowed. Layers run in order, each on the output(s) it names."""
    conv = spec.conv
    out = Forward([], [], [], X)
    for ly, p in zip(spec.layers, params):
        if tape is not None:
            tape.at(ly.index)
        z, a_in = ly.forward(p, out.a_prev(ly), conv, spec.bias, tape)
        a = ly.act.forward(z, ly.unit_axis(conv)) if ly.has_activation else z
        if tape is not None and ly.has_activation:
            tape.record("forward", "a", ly.act.call("z"), {"z": z.shape}, a.shape)
        out.a_in.append(a_in)
        out.z.append(z)
        out.a.append(a)
    return out


def fused_loss(spec):
    """The loss if it is computed from the output layer's z (bce on sigmoid, cross-entropy on softmax), else None."""
    loss, last = LOSSES[spec.loss], spec.layers[-1]
    fits = loss.value_from_z is not None and last.has_activation and last.activation == loss.output
    return loss_of(spec) if fits else None


def _targets(spec, Y):
    """Class labels as the one-hot targets the losses compute with (any other Y as it is)."""
    return spec.targets(Y)


def loss_frame(spec, a):
    """(N, K, unit axis, rows) of an output batch ``a``: ``rows(x)`` lays a per-step output (..., N, T, K) out as
    N·T rows (..., N·T, K), on which the loss (summed over steps, normalised by N) is the loss of a batch of
    vectors in the row convention; other outputs stay as they are."""
    conv = spec.conv
    if len(spec.output_shape) == 2:
        keep = _kept_rows(spec, a)
        if keep is None:
            return a.shape[-3], a.shape[-1], -1, lambda x: x.reshape(*x.shape[:-3], -1, x.shape[-1])
        return a.shape[-3], a.shape[-1], -1, lambda x: x.reshape(*x.shape[:-3], -1, x.shape[-1])[..., keep, :]
    return a.shape[conv.sample_axis], a.shape[conv.unit_axis], conv.unit_axis, lambda x: x


def _kept_rows(spec, a):
    """The rows (flat over N·T) ``data.mask`` keeps, or None without a mask."""
    if spec.mask is None:
        return None
    if spec.mask.shape != a.shape[-3:-1]:
        raise ValueError(f"data.mask is {spec.mask.shape} (N, T) but the output batch is {a.shape[-3:-1]}")
    return np.flatnonzero(spec.mask.ravel())


def unrows(spec, g, shape):
    """A gradient of the kept rows (..., R, K) back in the output's shape (N, T, K), 0 at the masked steps."""
    keep = None if len(spec.output_shape) != 2 else _kept_rows(spec, np.empty(shape))
    if keep is None:
        return g.reshape(shape)
    out = np.zeros(shape, dtype=g.dtype)
    out.reshape(*shape[:-3], -1, shape[-1])[..., keep, :] = g
    return out


def loss_value(spec, a, Y, z=None):
    """C for output a and targets Y (same layout); an array if a has leading stack axes.

    Given the output layer's pre-activation ``z``, a loss defined with its output
    activation is computed from z, stably (see :class:`~gradcheck.catalogue.losses.Loss`).
    """
    loss, Y = loss_of(spec), _targets(spec, Y)
    n, k, axis, rows = loss_frame(spec, a)
    if z is not None and fused_loss(spec) is not None:
        return loss.value_from_z(rows(z), rows(Y), n, k, axis)
    return loss.value(rows(a), rows(Y), n, k)


def sample_losses(spec, a, Y, z=None):
    """Each sample's share of C, (..., N), so that C = Σ_n of it; ``a`` (and ``z``) may have leading stack axes.

    Every sample goes to a stack axis of its own, as a batch of one that keeps the
    whole batch's N in the loss's normalisation.
    """
    conv, loss, Y = spec.conv, loss_of(spec), _targets(spec, Y)
    n, k, axis, _ = loss_frame(spec, a)

    def apart(x):  # (..., K, N) -> (..., N, K, 1); (..., N, K) -> (..., N, 1, K); (..., N, T, K) stays
        if len(spec.output_shape) == 2:
            return x
        return np.swapaxes(x, -1, -2)[..., None] if conv.samples_are_columns else x[..., None, :]

    if len(spec.output_shape) == 2 and spec.mask is not None:  # each step alone, the masked ones dropped
        def alone(x):  # (..., N, T, K) -> (..., N, T, 1, K): each step a batch of one
            return x[..., None, :]

        per = (loss.value_from_z(alone(z), alone(Y), n, k, axis) if z is not None and fused_loss(spec) is not None
               else loss.value(alone(a), alone(Y), n, k))
        return (per * spec.mask).sum(axis=-1)
    if z is not None and fused_loss(spec) is not None:
        return loss.value_from_z(apart(z), apart(Y), n, k, axis)
    return loss.value(apart(a), apart(Y), n, k)


def cost(spec, params, X, Y, fw=None):
    """C of one network at ``params``: the loss of its forward pass on X plus the regularisation term. ``fw``:
    that forward pass, if already made."""
    fw = forward(spec, params, X) if fw is None else fw
    n = loss_frame(spec, fw.output)[0]
    return float(loss_value(spec, fw.output, Y, fw.z[-1])) + penalty(spec, params, n)


def _regularize(spec, params, n, grads, tape):
    """The regularisation term's gradient added to the weights' (``grads`` in place)."""
    for layer, extra in enumerate(penalty_grads(spec, params, n)):
        for key, g in extra.items():
            if tape is not None:
                tape.at(layer)
                tape.record("backward", "d" + key, f"d{key} + {spec.regularization.grad_text()}",
                            {"d" + key: g.shape, key: g.shape}, g.shape)
            grads[layer][key] = grads[layer][key] + g


@dataclass
class ReferencePass:
    """One reference backprop over the batch, kept for the parts of a check that need its pieces again (the
    rounding allowance, the loss's noise, the perturbed networks' base): C, the gradients, the forward pass and
    ``seen`` (per layer (z, δ, a, ∂C/∂a), see :func:`backprop`)."""

    loss: float
    grads: list
    fw: Forward
    seen: dict

    def __repr__(self):
        return f"ReferencePass(loss={self.loss!r}, layers={len(self.grads)})"


def reference_pass(spec, params, X, Y) -> ReferencePass:
    """:func:`backprop` once, with its forward pass and every layer's z, δ, a and ∂C/∂a kept."""
    seen, fw = {}, forward(spec, params, X)
    loss, grads = backprop(spec, params, X, Y, seen=seen, fw=fw)
    return ReferencePass(loss, grads, fw, seen)


def backprop(spec, params, X, Y, tape=None, tweak=None, seen=None, fw=None):
    """Return (C, grads): grads is a list of {"W": dW, "b": db} with exactly the params' shapes
    ({"gamma", "beta"} for norms, {} for layers without params; no entry for a dropout mask).

    ``seen``, a dict, receives for each layer i ``(z, delta, a, da)``: its z and δ = ∂C/∂z, its a and
    ∂C/∂a (None for a fused output, whose δ comes from z).

    ``tweak`` (a :class:`gradcheck.diagnose.mistakes.Hypothesis`, used by the diagnosis only) replaces
    steps by known mistakes, so a user's wrong gradient can be matched to its cause. C and the weights' gradients
    include the spec's regularisation term. ``fw``, the forward pass of these params on X, if already made.
    """
    conv, loss, Y = spec.conv, loss_of(spec), _targets(spec, Y)
    fw = _forward_of(spec, params, X, tape, fw)
    a = fw.output
    n, k, axis, rows = loss_frame(spec, a)
    C = float(loss_value(spec, a, Y, fw.z[-1])) + penalty(spec, params, n)
    fused = fused_loss(spec) is not None and tweak is None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # ∂C/∂a of a saturated output: δ from z
        da = unrows(spec, loss.grad(rows(a), rows(Y), n, k), a.shape)
    if tape is not None:
        tape.record("backward", "da", loss.grad_formula, {"a": a.shape, "y": Y.shape}, da.shape)
    if tweak is not None:
        da = tweak.loss_grad(da, a, Y)
    grads = [None] * len(spec.layers)
    pending = {len(spec.layers) - 1: da}  # ∂C/∂a of each layer, summed over the layers that read it
    for ly in reversed(spec.layers):
        i = ly.index
        if tape is not None:
            tape.at(i)
        z, a, da = fw.z[i], fw.a[i], pending.pop(i)
        if fused and i == len(spec.layers) - 1:
            delta = unrows(spec, loss.delta_from_z(rows(z), rows(a), rows(Y), n, k, axis), z.shape)
        elif not ly.has_activation:
            delta = da
        elif tweak is not None and tweak.act_grad(i) is not None:
            delta = tweak.act_grad(i)(ly.act, da, z, a, ly.unit_axis(conv))
        else:
            delta = ly.act.vjp(da, z, a, ly.unit_axis(conv))
        if tape is not None and ly.has_activation:
            if ly.act.derivative is not None:
                prime = ly.act.call("z", prime=True)
                expr, ops = f"da * {prime}", {"da": da.shape, prime: z.shape}
            else:
                ax = ly.unit_axis(conv) % z.ndim
                expr, ops = f"a * (da - (da * a).sum(axis={ax}, keepdims=True))", {"a": a.shape, "da": da.shape}
            tape.record("backward", "delta", expr, ops, delta.shape)
        if seen is not None:
            seen[i] = (z, delta, a, None if fused and i == len(spec.layers) - 1 else da)
        a_in = fw.a_in[i] if tweak is None else tweak.layer_input(i, fw)
        grads[i], da = ly.backward(delta, a_in, params[i], conv, spec.bias, tape)
        if tweak is not None:
            grads[i] = tweak.grads(i, grads[i])
            da = tweak.carry(i, da, delta, a_in, params[i])
        pass_back(pending, ly, da)
    _regularize(spec, params, n, grads, tape)
    return C, grads


def _forward_of(spec, params, X, tape, fw):
    """The forward pass ``fw`` made already, or made now (always when a tape records it)."""
    return forward(spec, params, X, tape) if fw is None or tape is not None else fw


def pass_back(pending, ly, da):
    """Add ∂C/∂a_prev (one per input of a layer that joins several) to what the layers it read have received."""
    for j, d in zip(ly.inputs, da if ly.multi_input else [da]):
        if j >= 0:
            pending[j] = pending[j] + d if j in pending else d


def not_finite(spec, params, X, Y, done):
    """Why the loss of the reference pass ``done`` is not finite, as a sentence naming the first layer whose output
    is not and the largest values given (a weight of 1e300 overflows z, a target of 1e300 the loss of squares);
    None where it is finite. No finite difference of such a loss means anything."""
    if np.isfinite(done.loss):
        return None
    fw = done.fw
    first = next((ly for ly in spec.layers if not (np.all(np.isfinite(fw.z[ly.index]))
                                                   and np.all(np.isfinite(fw.a[ly.index])))), None)
    at = (f"{first.kind} layer {first.index} (layers[{first.index}]) is the first whose output is not finite"
          if first is not None else "every layer's output is finite, and the loss of the outputs and targets is not")
    sizes = [(f"params[{i}].{key}", float(np.max(np.abs(v)))) for i, layer in enumerate(params)
             for key, v in layer.items() if key != "mask" and np.size(v)]
    sizes += [(f"data.{name}", float(np.max(np.abs(np.asarray(v, float))))) for name, v in (("X", X), ("Y", Y))
              if np.size(v) and np.asarray(v).dtype.kind in "fiu"]
    largest = sorted(sizes, key=lambda s: -s[1] if np.isfinite(s[1]) else -np.inf)[:2]
    named = " and ".join(f"{where} (up to {size:.3g})" for where, size in largest)
    return (f"the loss at these params and data is {done.loss!r}, so no gradient can be checked: {at}; the largest "
            f"values are in {named}. Way out: params and data of moderate size")
