"""The classic mistakes of convolution, pooling, normalisation, dropout and flatten layers, replayed and named.

Each :class:`LayerMistake` is a wrong backward (or a wrong flatten order) of one layer
kind. It is replayed by running the reference backprop on a copy of the network whose
layer is swapped for a *mistaken* one: the same configured layer, with a subclass whose
``backward`` makes the mistake (built from the layer's own forward and backward, so no
maths is written twice). A user's gradients that equal such a replay, and not the
reference, are named by the mistake's sentence. The mistakes:

============ ==============================================================================
conv2d       kernel flipped in dW (a true convolution); kernel flipped in dx; padding not
             stripped from dx (the padded gradient cut from its corner); stride ignored in the
             backward pass
maxpool2d    gradient sent to every element of the window; or averaged over it
avgpool2d    gradient not divided by the window size
batchnorm,   μ and σ² treated as constants in dx
layernorm
dropout      mask not applied in the backward pass; applied without the 1/(1 − p) rescale
flatten      features in Fortran order, or channels-last (H, W, C) order; or only the backward
             reshape in channels-last order
============ ==============================================================================

dγ and dβ not summed over N (and H, W) give the wrong *shape*; :func:`layer_shape_hint`
says so. The replay works on any layer of the catalogue with ``forward(params, a_prev,
conv, bias, tape) -> (z, cache)`` and ``backward(delta, cache, params, conv, bias, tape)
-> (grads, da_prev)``.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..catalogue.layers.windows import col2im
from ..reference.backprop import backprop

__all__ = ["LayerMistake", "LAYER_MISTAKES", "layer_mistakes", "explain_layers", "layer_shape_hint", "mistaken",
           "kernel_flip_hint"]

_MATCH = 1e-7


@dataclass(frozen=True)
class LayerMistake:
    """A wrong backward of one layer kind.

    ``backward(ly, base, delta, cache, a_prev, params, conv, bias) -> (grads, da_prev)``
    replaces the layer's backward; ``base(delta, cache, params)`` is the layer's own.
    ``forward(ly, z, conv) -> z`` (optional) changes the forward output (a flatten in the
    wrong order). ``text(layers)`` names the mistake at those layers (a list of Layer);
    ``applies(ly)`` says where it can happen.
    """

    key: str
    kind: str
    text: Callable
    backward: Callable
    forward: Callable | None = None
    applies: Callable = lambda ly: True

    def __repr__(self):
        return f"LayerMistake({self.key!r} on {self.kind})"


# -- the swap ------------------------------------------------------------------------------------

@functools.cache
def _mistaken_class(base, mistake):
    def forward(self, params, a_prev, conv, bias, tape=None):
        z, cache = base.forward(self, params, a_prev, conv, bias, tape)
        if mistake.forward is not None:
            z = mistake.forward(self, z, conv)
        return z, (cache, a_prev)

    def backward(self, delta, cache, params, conv, bias, tape=None):
        cache, a_prev = cache

        def own(d, c, p):
            return base.backward(self, d, c, p, conv, bias)

        return mistake.backward(self, own, delta, cache, a_prev, params, conv, bias)

    return type(f"{base.__name__}With_{mistake.key}", (base,), {"forward": forward, "backward": backward})


def mistaken(layer, mistake):
    """A copy of ``layer`` (a configured catalogue layer) whose backward makes ``mistake``."""
    new = copy.copy(layer)
    object.__setattr__(new, "__class__", _mistaken_class(type(layer), mistake))
    return new


def _replay(spec, params, X, Y, mistake, layers):
    """The gradients of ``spec`` with ``mistake`` made at every layer index in ``layers``."""
    swapped = tuple(mistaken(ly, mistake) if ly.index in layers else ly for ly in spec.layers)
    variant = copy.copy(spec)
    object.__setattr__(variant, "layers", swapped)
    _, grads = backprop(variant, params, X, Y)
    return grads


# -- helpers the mistakes share ------------------------------------------------------------------

def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _conv_dx_padded(delta, W, padded, stride):
    """∂C/∂(padded input) of a cross-correlation: δ (N, F, H', W'), W (F, C, kh, kw) -> (N, C, Hp, Wp)."""
    da_win = np.einsum("nfhw,fcpq->nchwpq", delta, W)
    return col2im(da_win, padded, stride)


def _conv_geometry(ly, a_prev):
    P = ly.options["padding"]
    H, W = a_prev.shape[-2:]
    return P, (H, W), (H + 2 * P, W + 2 * P), _pair(ly.options["kernel"]), _pair(ly.options["stride"])


def _flip_dw(ly, own, delta, cache, a_prev, params, conv, bias):
    grads, da = own(delta, cache, params)
    return {**grads, "W": grads["W"][..., ::-1, ::-1]}, da


def _flip_dx(ly, own, delta, cache, a_prev, params, conv, bias):
    grads, _ = own(delta, cache, params)
    _, da = own(delta, cache, {**params, "W": params["W"][..., ::-1, ::-1]})
    return grads, da


def _padding_kept(ly, own, delta, cache, a_prev, params, conv, bias):
    grads, _ = own(delta, cache, params)
    _, (H, W), padded, _, stride = _conv_geometry(ly, a_prev)
    return grads, _conv_dx_padded(delta, params["W"], padded, stride)[..., :H, :W]


def _stride_ignored(ly, own, delta, cache, a_prev, params, conv, bias):
    grads, _ = own(delta, cache, params)
    P, (H, W), padded, (kh, kw), _ = _conv_geometry(ly, a_prev)
    ho, wo = delta.shape[-2:]
    x = np.pad(a_prev, [(0, 0)] * (a_prev.ndim - 2) + [(P, P), (P, P)])
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(-2, -1))[..., :ho, :wo, :, :]
    grads = {**grads, "W": np.einsum("nfhw,nchwpq->fcpq", delta, win)}
    return grads, _conv_dx_padded(delta, params["W"], padded, (1, 1))[..., P:P + H, P:P + W]


def _pool_spread(ly, delta, a_prev, scale):
    kh, kw = _pair(ly.options["size"])
    g = np.broadcast_to(delta[..., None, None] * scale, (*delta.shape, kh, kw))
    return col2im(g, a_prev.shape[-2:], _pair(ly.options["stride"]))


def _to_all(ly, own, delta, cache, a_prev, params, conv, bias):
    return {}, _pool_spread(ly, delta, a_prev, 1.0)


def _averaged(ly, own, delta, cache, a_prev, params, conv, bias):
    kh, kw = _pair(ly.options["size"])
    return {}, _pool_spread(ly, delta, a_prev, 1.0 / (kh * kw))


def _not_divided(ly, own, delta, cache, a_prev, params, conv, bias):
    grads, da = own(delta, cache, params)
    kh, kw = _pair(ly.options["size"])
    return grads, da * (kh * kw)


def _norm_axes(ly, a_prev, conv):
    """The axes a norm layer averages over, for an unstacked batch."""
    image = len(ly.in_shape) == 3
    if ly.kind == "batchnorm":
        return (0, 2, 3) if image else (conv.sample_axis % 2,)
    return (1, 2, 3) if image else (conv.unit_axis % 2,)


def _constant_stats(ly, own, delta, cache, a_prev, params, conv, bias):
    grads, _ = own(delta, cache, params)
    axes = _norm_axes(ly, a_prev, conv)
    gamma = np.asarray(params["gamma"])
    if ly.kind == "batchnorm" and len(ly.in_shape) == 3:
        gamma = gamma[:, None, None]
    elif len(ly.in_shape) == 1 and conv.name == "column":
        gamma = gamma[:, None]
    var = a_prev.var(axis=axes, keepdims=True)
    return grads, delta * gamma / np.sqrt(var + ly.options["eps"])


def _no_mask(ly, own, delta, cache, a_prev, params, conv, bias):
    return {}, delta.copy()


def _no_rescale(ly, own, delta, cache, a_prev, params, conv, bias):
    return {}, delta * (np.asarray(params["mask"]) != 0)


def _order(ly, name):
    """Permutation: entry m of the wrong flatten is entry order[m] of the C-order flatten."""
    idx = np.arange(ly.fan_in).reshape(ly.in_shape)
    return (idx.transpose(2, 1, 0) if name == "fortran" else idx.transpose(1, 2, 0)).ravel()


def _flatten_forward(name):
    def forward(ly, z, conv):
        return np.take(z, _order(ly, name), axis=conv.unit_axis)
    return forward


def _flatten_backward(name):
    def backward(ly, own, delta, cache, a_prev, params, conv, bias):
        back = np.argsort(_order(ly, name))
        return own(np.take(delta, back, axis=conv.unit_axis), cache, params)
    return backward


def _where(layers):
    kind = layers[0].kind
    idx = [ly.index for ly in layers]
    return f"{kind} layer {idx[0]}" if len(idx) == 1 else f"every {kind} layer ({', '.join(map(str, idx))})"


def _image(ly):
    return len(ly.in_shape) == 3


#: Every known layer mistake, in the order they are tried.
LAYER_MISTAKES = [
    LayerMistake("flipped_dw", "conv2d", lambda ls: (
        f"{_where(ls)}: dW uses the kernel flipped by 180° (a true convolution), but the forward pass computes "
        "a cross-correlation, so dW[f, c, p, q] = Σ δ[n, f, i, j]·x_pad[n, c, i·S + p, j·S + q] with no ::-1"),
        _flip_dw),
    LayerMistake("flipped_dx", "conv2d", lambda ls: (
        f"{_where(ls)}: dx uses the kernel flipped by 180° (w[f, :, ::-1, ::-1]); the forward pass is a "
        "cross-correlation, so each window adds W[f]·δ[n, f, i, j] back unflipped: "
        "dx_pad[n, :, i·S:i·S + kh, j·S:j·S + kw] += W[f]·δ[n, f, i, j]"), _flip_dx),
    LayerMistake("padding_kept", "conv2d", lambda ls: (
        f"{_where(ls)}: the padding is not stripped from dx: the gradient of the padded input is cut to H×W "
        f"from its corner (dx_pad[:, :, :H, :W]); strip P = {ls[0].options['padding']} on every side: "
        "dx = dx_pad[:, :, P:P + H, P:P + W]"), _padding_kept, applies=lambda ly: ly.options["padding"] > 0),
    LayerMistake("stride_ignored", "conv2d", lambda ls: (
        f"{_where(ls)}: the backward pass ignores the stride S = {_pair(ls[0].options['stride'])[0]}: output "
        "(i, j) came from the window at (i·S, j·S), not (i, j), in dW and in dx"), _stride_ignored,
        applies=lambda ly: _pair(ly.options["stride"]) != (1, 1)),
    LayerMistake("to_all", "maxpool2d", lambda ls: (
        f"{_where(ls)} sends each window's gradient to every element of the window; only the window's "
        "maximum (the element the forward pass picked) gets it, the others get 0"), _to_all),
    LayerMistake("averaged", "maxpool2d", lambda ls: (
        f"{_where(ls)} spreads each window's gradient evenly over the window (δ/(kh·kw), as average pooling "
        "does); in max pooling only the window's maximum gets δ, the others get 0"), _averaged),
    LayerMistake("not_divided", "avgpool2d", lambda ls: (
        f"{_where(ls)} does not divide the gradient by the window size: each element of a "
        f"{'×'.join(map(str, _pair(ls[0].options['size'])))} window gets δ/{np.prod(_pair(ls[0].options['size']))}"
          " (the 1/(kh·kw) of the mean)"), _not_divided),
    LayerMistake("constant_stats", "batchnorm", lambda ls: (
        f"{_where(ls)} treats the batch mean μ and variance σ² as constants (dx = δ·γ/√(σ² + ε)); they depend "
        "on x, so dx = (dxhat − mean(dxhat) − x̂·mean(dxhat·x̂))/√(σ² + ε) with dxhat = δ·γ"), _constant_stats),
    LayerMistake("constant_stats", "layernorm", lambda ls: (
        f"{_where(ls)} treats each sample's mean μ and variance σ² as constants (dx = δ·γ/√(σ² + ε)); they "
        "depend on x, so dx = (dxhat − mean(dxhat) − x̂·mean(dxhat·x̂))/√(σ² + ε) over the sample's features, "
        "dxhat = δ·γ"), _constant_stats),
    LayerMistake("no_mask", "dropout", lambda ls: (
        f"{_where(ls)}: the mask is not applied in the backward pass (dx = δ); the dropped units pass no "
        "gradient: dx = δ·mask"), _no_mask),
    LayerMistake("no_rescale", "dropout", lambda ls: (
        f"{_where(ls)} applies the mask without the rescale (dx = δ·[mask ≠ 0]); inverted dropout multiplies "
        f"the kept units by 1/(1 − p) = {1 / (1 - ls[0].options['p']):g} in the forward pass, so dx = δ·mask"),
        _no_rescale),
    LayerMistake("fortran", "flatten", lambda ls: (
        f"{_where(ls)} flattens in Fortran order (order='F', W fastest after the batch: the features come out "
        "as (W, H, C)); flatten in C order: a_prev.reshape(N, -1), and back with delta.reshape(N, C, H, W)"),
        _flatten_backward("fortran"), forward=_flatten_forward("fortran"), applies=_image),
    LayerMistake("channels_last", "flatten", lambda ls: (
        f"{_where(ls)} flattens channels-last (a_prev.transpose(0, 2, 3, 1), features as (H, W, C)); images "
        "are (N, C, H, W), so flatten in C order: a_prev.reshape(N, -1)"),
        _flatten_backward("channels_last"), forward=_flatten_forward("channels_last"), applies=_image),
    LayerMistake("unflatten_channels_last", "flatten", lambda ls: (
        f"{_where(ls)}: the backward pass reshapes δ channels-last (delta.reshape(N, H, W, C).transpose(0, 3, "
        "1, 2)) while the forward pass flattened in C order; undo the forward: delta.reshape(N, C, H, W)"),
        _flatten_backward("channels_last"), applies=_image),
]


def layer_mistakes(spec):
    """[(sentence, layer indices, LayerMistake)] worth replaying for ``spec``: each layer alone, then all at once."""
    out = []
    for m in LAYER_MISTAKES:
        layers = [ly for ly in spec.layers if ly.kind == m.kind and m.applies(ly)]
        if len(layers) > 1:
            out.append((m.text(layers), tuple(ly.index for ly in layers), m))
        out += [(m.text([ly]), (ly.index,), m) for ly in layers]
    return out


def _flat(grads, params):
    return np.concatenate([np.ravel(g[k]) for g, p in zip(grads, params) for k in _trainable(p, g)])


def _trainable(p, g):
    return [k for k in g if k in p]


def _close(x, y):
    return np.linalg.norm(x - y) <= _MATCH * max(np.linalg.norm(y), np.linalg.norm(x), 1e-300)


def explain_layers(spec, params, X, Y, user, reference):
    """Sentences naming the layer mistake whose replay gives the user's gradients, or [].

    ``user`` and ``reference`` are lists of gradient dicts like the params (every
    trainable tensor of the right shape). A mistake whose replay equals the user's
    gradients and differs from the reference is named, at the fewest layers that give
    those gradients (a dx mistake in the first layer cannot be seen, so it is not
    claimed); when several distinct mistakes fit, each is named.
    """
    candidates = layer_mistakes(spec)
    if not candidates:
        return []
    u, r = _flat(user, reference), _flat(reference, reference)
    found = {}  # (kind, key) -> (layers, sentence): the fewest layers that explain it (the surest claim)
    for text, layers, m in candidates:
        g = _flat(_replay(spec, params, X, Y, m, layers), reference)
        if not _close(g, r) and _close(u, g):
            best = found.get((m.kind, m.key))
            if best is None or len(layers) < len(best[0]):
                found[(m.kind, m.key)] = (layers, text)
    texts = [text for _, text in found.values()]
    if not texts:
        return []
    if len(texts) == 1:
        return [f"matches a known mistake: {texts[0]}"]
    return [f"matches {len(texts)} known mistakes that give exactly these gradients here: " + " — or — ".join(texts)]


def layer_shape_hint(spec, layer, kind, got, expected, n):
    """One sentence for a wrong-shaped dγ or dβ (not summed over the batch, or over H and W), or ""."""
    if kind not in ("gamma", "beta"):
        return ""
    ly, got, expected = spec.layers[layer], tuple(got), tuple(expected)
    image = len(ly.in_shape) == 3
    name = "d" + kind
    if ly.kind == "batchnorm" and image:
        axes = "N, H and W (axis=(0, 2, 3))"
        if got in {(n, *ly.in_shape), tuple(ly.in_shape), (n, ly.in_shape[0])}:
            summed = {(n, *ly.in_shape): "not summed at all", tuple(ly.in_shape): "summed over N only",
                      (n, ly.in_shape[0]): "summed over H and W only"}[got]
            return (f"{name} is {summed}: spatial batchnorm has one {kind} per channel, so sum over {axes}: "
                    f"shape {expected}")
        if got in {(1, expected[0], 1, 1), (1, expected[0])}:
            return f"{name} must be a flat vector of shape {expected}: sum without keepdims (or .ravel())"
        return ""
    per_sample = {(n, *ly.in_shape)} | ({(ly.in_shape[0], n)} if not image else set())
    if got in per_sample:
        return (f"{name} is not summed over the {n} samples: {ly.kind}'s {kind} is shared by every sample, "
                f"so sum its per-sample values over the batch (axis 0 in the row convention): shape {expected}")
    if got in {(1, *expected), (*expected, 1)}:
        return f"{name} must have shape {expected}: sum without keepdims (or .ravel())"
    return ""


def kernel_flip_hint(name, analytic, numeric, close):
    """For a layer check (no network known): a 4-D gradient that is the numeric one with every kernel rotated by
    180° is a flipped kernel. ``close(u, v)`` says two arrays are the same; returns a sentence or ""."""
    if np.ndim(analytic) != 4 or np.shape(analytic)[-2:] == (1, 1) or close(analytic, numeric):
        return ""
    if not close(np.asarray(analytic)[..., ::-1, ::-1], numeric):
        return ""
    return (f"{name}: your gradient is the numeric one with every kernel rotated by 180° ([..., ::-1, ::-1]): a "
            "true convolution where the forward pass computes a cross-correlation; pair each input window with "
            "δ without flipping")
