"""Why is a hand-written gradient wrong? Shape hints, known mistakes, constant factors, localisation.

Given the user's gradients and the reference ones (already confirmed by finite
differences), this module:

1. explains a wrong *shape* (δ where δ·a_prevᵀ belongs, a transposed dW, a bias not
   summed over the batch, layers in the wrong order, the augmented bias column missing);
2. replays the reference backprop with one known mistake at a time (σ'(a) for σ'(z),
   σ' left out, the layer's output where its input belongs, another loss's derivative,
   a transposed dW) and names the mistake whose gradients match the user's;
3. recognises a constant factor (−1, N, 1/N, 2, a learning rate);
4. otherwise says where the error starts, walking back from the output layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .backprop import backprop
from .catalogue import LOSSES
from .shapes import trace_shapes

__all__ = ["Mistake", "shape_hint", "known_mistakes", "diagnose"]

_MATCH = 1e-7


@dataclass
class Mistake:
    """A known mistake, replayable as a tweak of the reference backprop (see ``backprop(tweak=...)``)."""

    title: str
    loss_hook: Callable | None = None  # (da, a, Y) -> da
    act_hook: Callable | None = None  # (act, da, z, a, axis) -> delta, at ``layer``
    input_hook: Callable | None = None  # (fw) -> a_in used for dW, at ``layer``
    grads_hook: Callable | None = None  # (g) -> g, at ``layer``
    layer: int | tuple | None = None  # one layer, several, or None (the loss)

    def loss_grad(self, da, a, Y):
        return self.loss_hook(da, a, Y) if self.loss_hook else da

    def _at(self, i):
        return i in self.layer if isinstance(self.layer, tuple) else i == self.layer

    def act_grad(self, i):
        return self.act_hook if self.act_hook and self._at(i) else None

    def layer_input(self, i, fw):
        return self.input_hook(fw) if self.input_hook and i == self.layer else fw.a_in[i]

    def grads(self, i, g):
        return self.grads_hook(g) if self.grads_hook and i == self.layer else g

    def __repr__(self):
        return f"Mistake({self.title!r})"


def _equation(trace, layer, name):
    """The trace's backward step ``name`` of ``layer`` as an equation with shapes."""
    for step in trace.layers[layer].steps:
        if step.phase == "backward" and step.name == name:
            return step.equation()
    return ""


def shape_hint(spec, layer, kind, got, expected, n=None):
    """One sentence on why a gradient of shape ``got`` (expected ``expected``) is wrong, or "".

    ``n`` is the number of samples actually checked (default: the spec's).
    """
    got, expected = tuple(got), tuple(expected)
    ly = spec.layers[layer]
    conv = spec.conv
    n = spec.n_samples if n is None else n
    units, fan_in = ly.units, ly.fan_in
    eq = _equation(trace_shapes(spec), layer, "d" + kind)
    vecs = {(units,), (units, 1), (1, units)}
    if kind == "W":
        if got == expected[::-1]:
            return f"it is transposed; in the {conv.name} convention {eq}"
        if got in vecs:
            return (f"that is the shape of δ (one value per unit of layer {layer}), not of W; the weight gradient "
                    f"is the outer product of δ with the layer's input: {eq}")
        if got in {(fan_in,), (fan_in, 1), (1, fan_in)}:
            return (f"that is the shape of the layer's input a_prev alone; the weight gradient is the outer product "
                    f"of δ with that input, one entry per weight: {eq}")
        if got == (units, units) and units != fan_in + (spec.bias == "augmented"):
            return (f"({units}, {units}) pairs δ with the layer's *output* a (an outer product such as "
                    f"kron(a.T, delta)); ∂z_i/∂w_jk = [i=j]·a_prev_k, so dW pairs δ with the layer's *input*: {eq}")
        if got in {conv.batch(units, spec.n_samples), conv.batch(fan_in, n)}:
            return f"that is a whole batch of per-sample vectors, not a weight gradient: {eq}"
        if spec.bias == "augmented" and got in {conv.weight(units, fan_in), conv.weight(units, fan_in)[::-1]}:
            side = "column" if conv.name == "column" else "row"
            return (f"with bias augmented W has one more {side} (the bias, weight of the constant input 1); "
                    f"use the input with the 1 appended: {eq}")
        for other in spec.layers:
            if other.index != layer and got == spec.param_shapes()[other.index]["W"]:
                return (f"that is the shape of layer {other.index}'s W: list the gradients in layer order "
                        f"(the first entry is layer 0, the one next to the input)")
    if kind == "b":
        if got in {conv.batch(units, n)}:
            return f"not summed over the {n} samples: {eq}"
        if got in {(units, 1), (1, units)}:
            return f"db must be a flat vector of shape ({units},), one entry per unit: {eq} (or .ravel())"
        if got in {(fan_in,), (n,)}:
            return f"summed over the wrong axis: {eq}"
    return ""


def known_mistakes(spec):
    """The list of :class:`Mistake` that make sense for this spec."""
    out = []
    loss = LOSSES[spec.loss]
    trace = trace_shapes(spec)
    every = [ly for ly in spec.layers if ly.act.prime_of_a_slip]
    if len(every) > 1:  # one sigmoid_prime(a) helper used in every layer is the usual way this happens
        out.append(Mistake(
            f"every {'/'.join(sorted({ly.activation for ly in every}))} layer applies σ' to the activation a "
            "instead of to z: σ'(a) = σ'(σ(z)). Evaluate σ' at z (for sigmoid: a*(1-a) with a = σ(z))",
            act_hook=lambda act, da, z, a, axis: da * act.derivative(a, act.forward(a)),
            layer=tuple(ly.index for ly in every)))
    smooth = [ly for ly in spec.layers if ly.act.elementwise and not ly.act.identity]
    if len(smooth) > 1:
        out.append(Mistake("no layer multiplies by the activation derivative σ'(z): δ = ∂C/∂a ⊙ σ'(z) in every "
                           "layer", act_hook=lambda act, da, z, a, axis: da,
                           layer=tuple(ly.index for ly in smooth)))
    for ly in spec.layers:
        i, act = ly.index, ly.act
        if act.prime_of_a_slip:
            out.append(Mistake(
                f"layer {i} applies {ly.activation}' to the activation a instead of to z: σ'(a) = σ'(σ(z)). "
                f"Use {act.derivative_formula} evaluated at z (for sigmoid: a*(1-a) with a = σ(z))",
                act_hook=lambda act, da, z, a, axis: da * act.derivative(a, act.forward(a)), layer=i))
        if act.elementwise and not act.identity:
            out.append(Mistake(
                f"layer {i} leaves out the activation derivative: δ = ∂C/∂a ⊙ σ'(z), "
                f"with σ'(z) = {act.derivative_formula} for {ly.activation}",
                act_hook=lambda act, da, z, a, axis: da, layer=i))
        if not act.elementwise:
            out.append(Mistake(
                f"layer {i} treats {act.name} as element-wise (a(1−a)); its Jacobian is {act.derivative_formula}, "
                "so δ = a * (da - (da * a).sum(axis)) — with cross-entropy simply (a − y)/N",
                act_hook=lambda act, da, z, a, axis: da * a * (1 - a), layer=i))
        W = spec.param_shapes()[i]["W"]
        if ly.units == W[0] == W[1] or (ly.units == ly.fan_in and spec.bias != "augmented"):
            out.append(Mistake(
                f"layer {i} pairs δ with the layer's output a instead of its input a_prev "
                "(∂z_i/∂w_jk = [i=j]·a_prev_k, so dW uses the input)",
                input_hook=lambda fw, i=i: fw.a[i], layer=i))
        if W[0] == W[1]:
            out.append(Mistake(f"layer {i} returns dW transposed ({_equation(trace, i, 'dW')})",
                               grads_hook=lambda g: {**g, "W": np.swapaxes(g["W"], -1, -2)}, layer=i))
    for other in LOSSES.values():
        if other.name != loss.name and other.output in (None, spec.layers[-1].activation) \
                and (loss.output is None or other.output == loss.output):
            out.append(Mistake(
                f"you differentiated the {other.name} loss (C = {other.formula}, ∂C/∂a = {other.grad_formula}) "
                f"but the spec's loss is {loss.name} (C = {loss.formula}, ∂C/∂a = {loss.grad_formula})",
                loss_hook=lambda da, a, Y, other=other, spec=spec: other.grad(
                    a, Y, a.shape[spec.conv.sample_axis], a.shape[spec.conv.unit_axis])))
    return out


def _flat(grads, params):
    return np.concatenate([np.ravel(g[k]) for g, p in zip(grads, params) for k in p])


def _close(x, y):
    return np.linalg.norm(x - y) <= _MATCH * max(np.linalg.norm(y), np.linalg.norm(x), 1e-300)


def _factor(c, n, k, loss):
    named = {-1.0: "the sign is flipped: you return −∂C/∂θ (e.g. from the error y − a, target minus output); "
                   "return +∂C/∂θ and let the update subtract it",
             2.0: "every element is 2× too large (a factor 2 the loss does not have)",
             0.5: "every element is half the true value (the 2 from d(a−y)²/da is missing)"}
    if n > 1:
        named[float(n)] = (f"every element is N={n} times too large: the loss is a mean over the N samples, "
                           "so divide the summed per-sample gradients by N")
        named[1.0 / n] = f"every element is N={n} times too small: 1/N applied twice?"
    if k > 1 and LOSSES[loss].per_output_mean:
        named.setdefault(float(k), f"every element is K={k} times too large: {loss} averages over all N·K outputs")
        named.setdefault(float(n * k), f"every element is N·K={n * k} times too large: {loss} averages over all "
                                       "N·K elements")
    for value, text in named.items():
        if abs(c - value) <= 1e-6 * abs(value):
            return text
    sign = " and of the opposite sign (y − a instead of a − y?)" if c < 0 else ""
    return (f"every element is {c:.6g} × the true gradient{sign}: a constant factor (did you return a "
            "learning-rate-scaled update η·∇C instead of the gradient ∇C?)")


def diagnose(spec, params, X, Y, user, reference, wrong):
    """Sentences explaining ``user`` gradients (list of dicts) vs ``reference``.

    ``wrong`` is the set of parameter names ("W0", "b1", ...) the check failed.
    Only tensors of the right shape take part in the value diagnosis.
    """
    if not wrong:
        return []
    usable = all(user[i].get(k) is not None and np.shape(user[i][k]) == np.shape(v)
                 for i, p in enumerate(params) for k, v in p.items())
    n, k = X.shape[spec.conv.sample_axis], spec.output
    out = []
    if usable:
        u, r = _flat(user, params), _flat(reference, params)
        denom = float(r @ r)
        c = float(u @ r) / denom if denom > 0 else 0.0
        scaled = abs(c - 1) > 1e-6 and _close(u, c * r)
        for m in known_mistakes(spec):
            _, g = backprop(spec, params, X, Y, tweak=m)
            mg = _flat(g, params)
            if not _close(mg, r) and _close(u, mg):
                return [f"matches a known mistake: {m.title}"] + ([_factor(c, n, k, spec.loss)] if scaled else [])
        if scaled:
            return [_factor(c, n, k, spec.loss)]
    # Localise: walk back from the output layer.
    bad_layers = sorted({int(name[1:]) for name in wrong}, reverse=True)
    last = len(spec.layers) - 1
    first_bad = bad_layers[0]
    names = {f"{kind}{first_bad}" for kind in params[first_bad]}
    layer_wrong = names & set(wrong)
    trace = trace_shapes(spec)
    eq_w, eq_b = _equation(trace, first_bad, "dW"), _equation(trace, first_bad, "db")
    if layer_wrong == {f"b{first_bad}"}:
        out.append(f"layer {first_bad}: dW is right but db is wrong, so δ is right and the bias sum is not: {eq_b}")
    elif "b" in params[first_bad] and layer_wrong == {f"W{first_bad}"}:
        out.append(f"layer {first_bad}: db is right but dW is wrong, so δ is right and the product with the "
                   f"layer's input is not: {eq_w}")
    elif first_bad == last:
        loss = LOSSES[spec.loss]
        out.append(f"the output layer {last} is already wrong: check δ^L = ∂C/∂a ⊙ σ'(z) with ∂C/∂a = "
                   f"{loss.grad_formula} for loss {loss.name} and σ' of {spec.layers[last].activation}")
    else:
        out.append(f"layers {first_bad + 1}..{last} are right and layer {first_bad} is wrong: the error is in "
                   f"carrying δ back from layer {first_bad + 1} to {first_bad}: "
                   f"{_equation(trace, first_bad + 1, 'da_prev')}, then delta = da * "
                   f"{spec.layers[first_bad].activation}'(z) of layer {first_bad}")
    if usable and bad_layers and any(int(nm[1:]) < first_bad for nm in wrong) and first_bad != last:
        out.append("the layers below it inherit the wrong δ; fix the first one and check again")
    return out
