"""Site tweaks: the known mistakes of one step of a layer's backward pass (dense layers and their activations).

A :class:`SiteMistake` (a :class:`~gradcheck.diagnose.mistake.Mistake`) sits at one *site* of the
backward pass of one layer:

========= ===================================================== ===================================
site      replaces                                              e.g.
========= ===================================================== ===================================
``loss``  ∂C/∂a at the output (``fn(spec, da, a, Y) -> da``)      another loss's derivative
``delta`` δ = ∂C/∂a ⊙ σ'(z) (``fn(act, da, z, a, axis)``)        σ'(a) for σ'(z), σ' left out
``input`` the a_prev that dW pairs δ with (``fn(fw, i)``)        the layer's output a instead
``grads`` the layer's returned gradients (``fn(g, N)``)          dW transposed, db averaged
``carry`` ∂C/∂a_prev sent to the layer below                     W @ δ where Wᵀ @ δ belongs
          (``fn(spec, i, da_prev, delta, a_in, p)``)
========= ===================================================== ===================================

``applies(spec, layer)`` says where a mistake can happen (a transposed dW only shows
when W is square). The search (:mod:`gradcheck.diagnose.search`) replays combinations
of them layer by layer, from the output down, and names the ones whose gradients
are the user's. They are registered in :data:`~gradcheck.diagnose.mistake.REGISTRY`
(other modules add theirs with :func:`~gradcheck.diagnose.mistake.register`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..catalogue.losses import loss_of, other_losses
from ..reference.backprop import loss_frame, unrows
from .mistake import REGISTRY, Mistake, register

__all__ = ["SITES", "SiteMistake", "candidates", "where"]

SITES = ("loss", "carry", "delta", "input", "grads")


@dataclass(frozen=True)
class SiteMistake(Mistake):
    """A known mistake at one site of a layer's backward step: ``fn`` replaces that step (see the table above).
    ``text(spec, layers)`` is the sentence naming it at those layers."""

    key: str
    site: str
    text: Callable
    fn: Callable
    applies: Callable = lambda spec, ly: True

    def __post_init__(self):
        if self.site not in SITES:
            raise ValueError(f"SiteMistake: site {self.site!r}; expected one of {', '.join(SITES)}")

    def __repr__(self):
        return f"SiteMistake({self.key!r} at {self.site})"


def candidates(spec, layer, site):
    """The registered mistakes (and, at the output, the other losses) that can happen at ``site`` of ``layer``."""
    ly = spec.layers[layer]
    out = [m for m in REGISTRY if m.local and m.site == site and m.applies(spec, ly)]
    if site == "loss":
        out += _other_losses(spec)
    if site == "delta" and ly.has_activation:
        out += _param_slips(ly.act) + _wrong_primes(ly.act)
    return out


# -- the known mistakes of dense layers and their activations ------------------------------

def _smooth(spec, ly):
    return ly.act.derivative is not None


def _weight_block(spec, W):
    """W without the bias column/row of an augmented layer: the block that multiplies a_prev."""
    if not spec.bias.in_weights:
        return W
    return W[..., :, :-1] if spec.conv.samples_are_columns else W[..., :-1, :]


def _affine(ly):
    """True for a layer whose W multiplies a batch of vectors (dense): the sites below are its backward's steps."""
    return hasattr(ly, "line_index") and ly.structured


def _square(spec, ly):
    W = spec.param_shapes()[ly.index].get("W")
    return _affine(ly) and W is not None and len(W) == 2 and W[0] == W[1]


def _square_block(spec, ly):
    W = spec.param_shapes()[ly.index].get("W")
    if not _affine(ly) or W is None or len(W) != 2:
        return False
    w = _weight_block(spec, np.empty(W)).shape
    return w[0] == w[1]


def _not_transposed(spec, i, da_prev, delta, a_in, p):
    ly = spec.layers[i]
    W = np.array(p["W"], dtype=float)
    block = _weight_block(spec, W)
    block[...] = np.swapaxes(block.copy(), -1, -2)
    _, wrong = ly.layer.backward(delta, a_in, {**p, "W": W}, spec.conv, spec.bias)
    return wrong


def _transposed(g, n):
    return {**g, "W": np.swapaxes(g["W"], -1, -2)}


def _has_b(spec, ly):
    return "b" in spec.param_shapes()[ly.index]


def _dense(spec, ly):
    W = spec.param_shapes()[ly.index].get("W")
    return W is not None and len(W) == 2


def where(spec, layers, verb):
    """("layer 1 applies", "layers 0 and 2 apply", "every sigmoid layer applies") for a mistake in ``layers``."""
    layers = sorted(layers)
    if len(layers) == 1:
        return f"layer {layers[0]} {verb}"
    acts = {spec.layers[i].activation for i in layers}
    if len(layers) == len(spec.layers) or len(layers) > 2:
        kind = f"{'/'.join(sorted(acts))} " if len(acts) <= 2 else ""
        every = len(layers) == sum(spec.layers[j].activation in acts for j in range(len(spec.layers)))
        if every:
            return f"every {kind}layer ({', '.join(map(str, layers))}) {verb}"
    plural = verb[:-3] + "y" if verb.endswith("ies") else verb[:-1] if verb.endswith("s") else verb
    return f"layers {', '.join(map(str, layers[:-1]))} and {layers[-1]} {plural}"


def _act(spec, layers):
    names = sorted({spec.layers[i].activation for i in layers})
    return "/".join(names)


def _prime(spec, layers):
    return "; ".join(sorted({f"{spec.layers[i].act.derivative_formula} for {spec.layers[i].act.label}"
                             for i in layers}))


for _m in [
    SiteMistake("prime_of_a", "delta",
            lambda spec, ls: (f"{where(spec, ls, 'applies')} {_act(spec, ls)}' to the activation a instead of to z: "
                              f"σ'(a) = σ'(σ(z)). Evaluate σ' at z ({_prime(spec, ls)}); written with a = σ(z) it is "
                              "a*(1-a) for sigmoid, so do not apply σ' to a again"),
            lambda act, da, z, a, axis: da * act.derivative(a, act.forward(a, axis)), _smooth),
    SiteMistake("no_prime", "delta",
            lambda spec, ls: (f"{where(spec, ls, 'leaves')} out the activation derivative: δ = ∂C/∂a ⊙ σ'(z), "
                              f"with σ'(z) = {_prime(spec, ls)}"),
            lambda act, da, z, a, axis: da, _smooth),
    SiteMistake("sigma_not_prime", "delta",
            lambda spec, ls: (f"{where(spec, ls, 'multiplies')} by the activation σ(z) itself where its derivative "
                              f"σ'(z) belongs ({_prime(spec, ls)}): δ = ∂C/∂a ⊙ σ'(z)"),
            lambda act, da, z, a, axis: da * a, _smooth),
    SiteMistake("softmax_elementwise", "delta",
            lambda spec, ls: (f"{where(spec, ls, 'treats')} softmax as element-wise (a(1−a)); its Jacobian is "
                              "a_i([i=j] − a_j), so δ = a * (da - (da * a).sum(axis)) — with cross-entropy simply "
                              "(a − y)/N"),
            lambda act, da, z, a, axis: da * a * (1 - a), lambda spec, ly: not ly.act.elementwise),
    SiteMistake("output_not_input", "input",
            lambda spec, ls: (f"{where(spec, ls, 'pairs')} δ with the layer's output a instead of its input a_prev "
                              "(∂z_i/∂w_jk = [i=j]·a_prev_k, so dW uses the input)"),
            lambda fw, i: fw.a[i], lambda spec, ly: _square(spec, ly)),
    SiteMistake("dw_transposed", "grads",
            lambda spec, ls: (f"{where(spec, ls, 'returns')} dW transposed (dW must have W's layout: "
                              f"{_dw_equation(spec, ls[0])})"),
            _transposed, _square),
    SiteMistake("prime_formula_on_z", "delta",
            lambda spec, ls: (f"{where(spec, ls, 'evaluates')} the derivative written for a = σ(z) at z: "
                              f"{_act(spec, ls)}' as a function of a (a*(1-a) for sigmoid, 1-a**2 for tanh) given z "
                              f"instead of a; σ'(z) = {_prime(spec, ls)}"),
            lambda act, da, z, a, axis: da * act.derivative(z, z), _smooth),
    SiteMistake("db_mean", "grads",
            lambda spec, ls: (f"{where(spec, ls, 'averages')} δ over the batch for db where it must sum it "
                              "(δ already holds the loss's 1/N): db = delta.sum(axis), not .mean(axis)"),
            lambda g, n: {**g, "b": g["b"] / n}, _has_b),
    SiteMistake("dw_mean", "grads",
            lambda spec, ls: (f"{where(spec, ls, 'divides')} dW by N once more: δ already holds the loss's 1/N, "
                              "so dW is the plain product of δ with the layer's input"),
            lambda g, n: {**g, "W": g["W"] / n}, _dense),
    SiteMistake("w_not_transposed", "carry",
            lambda spec, ls: "; ".join(
                f"W not transposed in the backward pass: carrying δ back from layer {i} to layer {i - 1} "
                f"multiplies by W{i} where its transpose belongs ({_carry_equation(spec, i)}); it only runs because "
                "that W is square" for i in sorted(ls, reverse=True)),
            _not_transposed, lambda spec, ly: ly.index > 0 and _square_block(spec, ly)),
]:
    register(_m)


def _step(spec, i, name):
    from ..reference.shapes import trace_shapes

    for step in trace_shapes(spec).layers[i].steps:
        if step.phase == "backward" and step.name == name:
            return step.equation()
    return ""


def _dw_equation(spec, i):
    return _step(spec, i, "dW")


def _carry_equation(spec, i):
    return _step(spec, i, "da_prev")


def _slip_text(spec, layers, slip, a_form):
    acts = [spec.layers[i].act for i in layers]
    wrong = acts[0].configured(**dict(slip))
    values = ", ".join(f"{k} = {v!r}" for k, v in slip)
    own = "; ".join(sorted({", ".join(f"{k} = {v!r}" for k, v in act.params) + f": σ'(z) = {act.derivative_formula}"
                            for act in acts}))
    how = ", written with a from the forward pass" if a_form else ""
    return (f"{where(spec, layers, 'uses')} {values} in {wrong.name}' ({wrong.derivative_formula}{how}) where the "
            f"layer's forward pass has {own}")


def _param_slips(act):
    """σ' with a parameter value other than the layer's (a library's default slope, elu's α = 1, i.e. exp(z)), in z,
    and where σ' is usually written with a, also in that form (a + 1 for a + α)."""
    out = []
    for slip in act.slips:
        wrong = act.configured(**dict(slip))
        key = "param:" + ",".join(f"{k}={v!r}" for k, v in slip)
        out.append(SiteMistake(key, "delta", lambda spec, ls, slip=slip: _slip_text(spec, ls, slip, False),
                               lambda act, da, z, a, axis, w=wrong: da * w.derivative(z, w.forward(z, axis))))
        if act.prime_of_a_slip:
            out.append(SiteMistake(key + ":a", "delta", lambda spec, ls, slip=slip: _slip_text(spec, ls, slip, True),
                                   lambda act, da, z, a, axis, w=wrong: da * w.derivative(z, a)))
    return out


def _wrong_primes(act):
    """σ' as the catalogue says it is often written wrong (gelu's Φ(z) alone)."""
    return [SiteMistake(f"prime:{act.name}:{key}", "delta",
                        lambda spec, ls, words=words: (f"{where(spec, ls, 'uses')} {words} for "
                                                       f"{spec.layers[ls[0]].act.name}'; σ'(z) = "
                                                       f"{spec.layers[ls[0]].act.derivative_formula}"),
                        lambda act, da, z, a, axis, fn=fn: da * fn(z, a))
            for key, words, fn in act.wrong_primes]


def _other_losses(spec):
    """Another loss's ∂C/∂a at the output, for each loss defined with this output whose gradient differs in shape
    and that takes the spec's reduction (sse is a sum by definition: it has no per-sample average)."""
    out = []
    here = loss_of(spec)
    for other in other_losses(spec):
        out.append(SiteMistake(
            f"loss:{other.name}", "loss",
            lambda spec, ls, other=other, here=here: (
                f"you differentiated the {other.name} loss (C = {other.formula}, ∂C/∂a = {other.grad_formula}) "
                f"but the spec's loss is {here.name} (C = {here.formula}, ∂C/∂a = {here.grad_formula})"),
            lambda spec, da, a, Y, other=other: _other_grad(spec, other, a, Y)))
    return out


def _other_grad(spec, other, a, Y):
    """∂C/∂a of another loss than the spec's, on the spec's output (per-step outputs as rows, masked steps 0)."""
    n, k, _, rows = loss_frame(spec, a)
    return unrows(spec, other.grad(rows(a), rows(Y), n, k), a.shape)
