"""Probes for the catalogue's kinds: activations (softmax included), max and average pooling, convolution (also
laid out channels last, as numpy-ml's), batch and layer norm, dropout, flatten. Each configures the catalogue's own
layer from the user's shapes, runs its forward on the user's inputs and, when that is the user's output, replays
the kind's known mistakes (``mistakes`` of :mod:`gradcheck.catalogue.layers`; for activations the δ-site mistakes
of :mod:`.mistakes`).
"""

from __future__ import annotations

import itertools

import numpy as np

from ..catalogue import ACTIVATIONS, CONVENTIONS, SEPARATE
from ..catalogue.layers import AvgPool2d, BatchNorm, Conv2d, Dropout, LayerNorm, MaxPool2d
from .mistake import REGISTRY
from .probe import Case, Kind, same_out

__all__ = ["PROBES"]

ROW = CONVENTIONS["row"]
#: The ε a norm's forward is tried with (CS231n's 1e-5 first).
EPS = (1e-5, 1e-8, 1e-6, 1e-7, 1e-3, 1e-4, 1e-12, 1e-10)

#: How the δ-site mistakes of a dense layer's activation read for a lone activation function.
_ACT_TEXT = {
    "prime_of_a": "σ' applied to the output a = σ(x) instead of to x: σ'(σ(x))",
    "no_prime": "the activation's derivative is left out: dx = dout ⊙ σ'(x)",
    "sigma_not_prime": "multiplies dout by σ(x) itself where its derivative σ'(x) belongs",
    "softmax_elementwise": ("softmax treated as element-wise, dx = dout·s(1−s); its Jacobian is s_i([i=j] − s_j), "
                            "so dx = s·(dout − (dout·s).sum(axis, keepdims=True))"),
    "prime_formula_on_z": ("the derivative written for the output (s(1−s) for sigmoid, 1−a² for tanh) is "
                           "evaluated at the input x; use the forward's output: σ'(x) = σ(x)(1 − σ(x))"),
}


def _floats(case):
    return [(i, a) for i, a in enumerate(case.inputs) if i in case.names and isinstance(a, np.ndarray)]


def _replayed(ly, known, dout, cache, x, params, to_index, slot=None):
    """A catalogue KnownMistake's replay as {input index: gradient}."""
    def own(d, c, p):
        return ly.backward(d, c, p, ROW, SEPARATE)

    def replay():
        grads, da = known.backward(ly, own, dout, cache, x, params, ROW, SEPARATE)
        return _indexed(grads, da, to_index, slot)

    return replay


def _indexed(grads, da, to_index, slot):
    out = {to_index[k]: g for k, g in grads.items() if k in to_index}
    if slot is not None:
        out[slot] = da
    return out


def _said(known, ly):
    """The catalogue's sentence, about the user's backward instead of a network's layer 0."""
    return known.text([ly]).replace(f"{ly.kind} layer 0", "your backward", 1)


def _layer_kind(ly, label, params, x, slot, to_index):
    """A :class:`Kind` for a configured catalogue layer whose forward gave the user's output."""
    z, cache = ly.forward(params, x, ROW, SEPARATE)
    return z, cache, lambda dout: Kind(
        label, lambda: _indexed(*ly.backward(dout, cache, params, ROW, SEPARATE), to_index, slot),
        [(_said(known, ly), _replayed(ly, known, dout, cache, x, params, to_index, slot))
         for known in ly.mistakes if known.applies(ly)])


def activations(case):
    floats = _floats(case)
    if len(floats) != 1 or len(case.outs) != 1 or case.outs[0].shape != floats[0][1].shape:
        return []
    (i, x), out, dout = floats[0], case.outs[0], case.douts[0]
    sites = [m for m in REGISTRY if m.local and m.site == "delta" and m.key in _ACT_TEXT]
    for act in ACTIVATIONS.values():
        if act.identity:
            continue
        for axis in ((-1, 0) if act.derivative is None and x.ndim > 1 else (-1,)):
            with np.errstate(all="ignore"):
                a = act.forward(x, axis)
            if not same_out(a, out):
                continue
            mistakes = [(_ACT_TEXT[m.key], lambda m=m, act=act, a=a, axis=axis: {i: m.fn(act, dout, x, a, axis)})
                        for m in sites if m.key != "softmax_elementwise" or act.derivative is None]
            return [Kind(act.name, lambda act=act, a=a, axis=axis: {i: act.vjp(dout, x, a, axis)}, mistakes)]
    return []


def _overwritten(ly, dout, x):
    """A max pool backward that assigns each window's gradient (dx[win] = mask·dout): where windows overlap, the
    later window's zeros overwrite the earlier one's gradient."""
    (kh, kw), (sh, sw) = ly.size, ly.stride
    dx = np.zeros_like(x)
    for i, j in np.ndindex(*dout.shape[-2:]):
        win = x[..., i * sh:i * sh + kh, j * sw:j * sw + kw]
        flat = win.reshape(*win.shape[:2], -1)
        mask = (np.arange(kh * kw) == flat.argmax(axis=-1)[..., None]).reshape(win.shape)
        dx[..., i * sh:i * sh + kh, j * sw:j * sw + kw] = mask * dout[..., i, j, None, None]
    return dx


def _assigned(ly, dout, x):
    """A max pool backward that assigns dout to each window's max element (dx[argmax] = dout): an element that is
    the max of several overlapping windows keeps only the last window's gradient."""
    (kh, kw), (sh, sw) = ly.size, ly.stride
    dx = np.zeros_like(x)
    lead = np.indices(x.shape[:2])
    for i, j in np.ndindex(*dout.shape[-2:]):
        win = x[..., i * sh:i * sh + kh, j * sw:j * sw + kw]
        r, c = np.divmod(win.reshape(*win.shape[:2], -1).argmax(axis=-1), kw)
        dx[lead[0], lead[1], i * sh + r, j * sw + c] = dout[..., i, j]
    return dx


def pools(case):
    floats = _floats(case)
    if len(floats) != 1 or len(case.outs) != 1 or floats[0][1].ndim != 4 or case.outs[0].ndim != 4:
        return []
    (i, x), out, dout = floats[0], case.outs[0], case.douts[0]
    (H, W), (ho, wo) = x.shape[-2:], out.shape[-2:]
    if out.shape[:2] != x.shape[:2]:
        return []
    found = []
    for kh, kw, s in itertools.product(range(1, min(H, 6) + 1), range(1, min(W, 6) + 1), range(1, 5)):
        if (H - kh) // s + 1 != ho or (W - kw) // s + 1 != wo or (H - kh) % s or (W - kw) % s:
            continue
        for cls in (MaxPool2d, AvgPool2d):
            ly = cls(0, tuple(x.shape[1:]), tuple(out.shape[1:]), options={"size": [kh, kw], "stride": [s, s]})
            z, _, kind = _layer_kind(ly, f"{cls.kind} {kh}x{kw}, stride {s}", {}, x, i, {})
            if same_out(z, out):
                k = kind(dout)
                if cls is MaxPool2d and (s < kh or s < kw):
                    k.mistakes.append((
                        "each window's gradient is assigned (dx[window] = mask * dout) where the windows overlap, so "
                        "a later window's zeros overwrite an earlier window's gradient; add it: "
                        "dx[window] += mask * dout",
                        lambda ly=ly: {i: _overwritten(ly, dout, x)}))
                    k.mistakes.append((
                        "each window's gradient is assigned to its max element (dx[argmax] = dout) where the windows "
                        "overlap, so an element that is the max of several windows keeps only the last one's "
                        "gradient; add it: dx[argmax] += dout",
                        lambda ly=ly: {i: _assigned(ly, dout, x)}))
                found.append(k)
        if found:
            return found
    return found


def convs(case):
    floats = _floats(case)
    if len(case.outs) != 1 or len(floats) not in (2, 3) or floats[0][1].ndim != 4 or floats[1][1].ndim != 4:
        return []
    (ix, x), (iw, w) = floats[:2]
    out, dout = case.outs[0], case.douts[0]
    params, to_index = {"W": w}, {"W": iw}
    if len(floats) == 3:
        params["b"], to_index["b"] = floats[2][1], floats[2][0]
    F, _, kh, kw = w.shape
    (H, W), (ho, wo) = x.shape[-2:], out.shape[-2:]
    for s, P in itertools.product(range(1, 5), range(0, max(kh, kw))):
        if (H + 2 * P - kh) // s + 1 != ho or (W + 2 * P - kw) // s + 1 != wo or (H + 2 * P - kh) % s:
            continue
        ly = Conv2d(0, tuple(x.shape[1:]), tuple(out.shape[1:]),
                    options={"filters": F, "kernel": [kh, kw], "stride": [s, s], "padding": P})
        z, _, kind = _layer_kind(ly, f"conv2d {kh}x{kw}, stride {s}, padding {P}", params, x, ix, to_index)
        if same_out(z, out):
            return [kind(dout)]
    return []


def convs_channels_last(case):
    """A convolution laid out channels last, as numpy-ml's Conv2D: x (N, H, W, C), W (kh, kw, C, F), out (N, Ho,
    Wo, F); recognised through :func:`convs` on the arrays moved to (N, C, H, W), its gradients moved back."""
    floats = _floats(case)
    if len(case.outs) != 1 or len(floats) not in (2, 3) or floats[0][1].ndim != 4 or floats[1][1].ndim != 4:
        return []
    (ix, x), (iw, w) = floats[:2]
    out = case.outs[0]
    if np.ndim(out) != 4 or x.shape[-1] != w.shape[2] or out.shape[-1] != w.shape[3]:
        return []
    inputs, back = list(case.inputs), {ix: lambda g: g.transpose(0, 2, 3, 1), iw: lambda g: g.transpose(2, 3, 1, 0)}
    inputs[ix], inputs[iw] = x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1)
    if len(floats) == 3:
        ib, b = floats[2]
        if b.size != w.shape[3]:
            return []
        inputs[ib], back[ib] = b.reshape(-1), (lambda g, shape=b.shape: np.reshape(g, shape))

    def moved(grads):
        return {i: back[i](g) for i, g in grads.items() if i in back}

    found = convs(Case(inputs, case.names, [out.transpose(0, 3, 1, 2)], [case.douts[0].transpose(0, 3, 1, 2)]))
    return [Kind(f"{k.label}, channels last", lambda k=k: moved(k.reference()),
                 [(text, lambda r=r: moved(r())) for text, r in k.mistakes]) for k in found]


def norms(case):
    floats = _floats(case)
    if len(case.outs) != 1 or len(floats) != 3:
        return []
    (ix, x), (ig, gamma), (ib, beta) = floats
    out, dout = case.outs[0], case.douts[0]
    if out.shape != x.shape or gamma.shape != beta.shape or x.ndim not in (2, 4):
        return []
    params, to_index = {"gamma": gamma, "beta": beta}, {"gamma": ig, "beta": ib}
    options = [(cls, eps, var) for cls in (BatchNorm, LayerNorm) for eps in EPS for var in ("biased", "unbiased")
               if cls is BatchNorm or var == "biased"]
    for cls, eps, var in options:
        ly = cls(0, tuple(x.shape[1:]), tuple(x.shape[1:]),
                 options={"eps": eps, **({"variance": var} if var != "biased" else {})})
        if ly.param_shapes(ROW, SEPARATE)["gamma"] != gamma.shape:
            continue
        z, _, kind = _layer_kind(ly, cls.kind, params, x, ix, to_index)
        if same_out(z, out):
            return [kind(dout)]
    return []


def dropouts(case):
    floats = _floats(case)
    if len(case.outs) != 1 or not floats:
        return []
    (i, x), out, dout = floats[0], case.outs[0], case.douts[0]
    if out.shape != x.shape:
        return []
    kept = (out != 0) & (x != 0)
    dropped = (out == 0) & (x != 0)
    if not kept.any() or not dropped.any():
        return []
    c = float(np.median(out[kept] / x[kept]))
    mask = np.where(dropped, 0.0, c)
    if c < 1.0 - 1e-9 or not same_out(x * mask, out):  # inverted dropout scales the kept units up
        return []
    p = 1.0 - 1.0 / c
    ly = Dropout(0, tuple(x.shape[1:]), tuple(x.shape[1:]), options={"p": p, "seed": None})
    _, _, kind = _layer_kind(ly, f"dropout (p = {p:.3g})", {"mask": mask}, x, i, {})
    k = kind(dout)
    k.mistakes.append((f"your backward rescales without the mask (dx = δ/(1 − p) = {c:g}·δ); the dropped units pass "
                       "no gradient: dx = δ·mask", lambda: {i: c * dout}))
    return [k]


def denses(case):
    floats = _floats(case)
    if len(case.outs) != 1 or len(floats) not in (2, 3) or floats[1][1].ndim != 2:
        return []
    (ix, x), (iw, w) = floats[:2]
    out, dout = case.outs[0], case.douts[0]
    x2 = x.reshape(x.shape[0], -1) if x.ndim > 1 else None
    if x2 is None or x2.shape[1] != w.shape[0] or out.shape != (x.shape[0], w.shape[1]):
        return []
    z = x2 @ w + (floats[2][1] if len(floats) == 3 else 0.0)
    if not same_out(z, out):
        return []
    n = x.shape[0]
    ref = {ix: (dout @ w.T).reshape(x.shape), iw: x2.T @ dout}
    mistakes = [("dW divided by N: the batch's 1/N already sits in dout (the loss's mean), so dW = x.T @ dout",
                 lambda: {iw: x2.T @ dout / n})]
    if len(floats) == 3:
        ib, b = floats[2]
        ref[ib] = dout.sum(axis=0).reshape(b.shape)
        mistakes.append(("db averaged over the batch where it must be summed (dout already holds the loss's 1/N): "
                         "db = dout.sum(axis=0), not .mean(axis=0)", lambda: {ib: ref[ib] / n}))
    if w.shape[0] == w.shape[1]:
        mistakes.append(("dx multiplies dout by w where its transpose belongs (dx = dout @ w.T); it only runs "
                         "because w is square", lambda: {ix: (dout @ w).reshape(x.shape)}))
    return [Kind("dense (affine)", lambda: ref, mistakes)]


def _orders(shape):
    """{name: (flatten, unflatten)} of the orders a flatten of a batch of ``shape`` (N, ...) is written in."""
    n, last = shape[0], (0, *range(2, len(shape)), 1)
    return {
        "C order (x.reshape(N, -1))": (lambda a: a.reshape(n, -1), lambda d: d.reshape(shape)),
        "channels last (x.transpose(0, 2, 3, 1).reshape(N, -1))": (
            lambda a: a.transpose(last).reshape(n, -1),
            lambda d: d.reshape(tuple(shape[k] for k in last)).transpose(np.argsort(last))),
        "Fortran order (x.reshape(N, -1, order=\"F\"))": (
            lambda a: a.reshape(n, -1, order="F"), lambda d: d.reshape(shape, order="F")),
    }


def flattens(case):
    """A flatten (N, C, H, W) -> (N, C·H·W) in any of :func:`_orders`; its mistake: a backward that unflattens dout
    in another order than the forward flattened."""
    floats = _floats(case)
    if len(case.outs) != 1 or len(floats) != 1:
        return []
    (i, x), out, dout = floats[0], case.outs[0], case.douts[0]
    if x.ndim < 3 or out.shape != (x.shape[0], x[0].size):
        return []
    orders = _orders(x.shape)
    kinds = []
    for name, (flat, unflat) in orders.items():
        if not same_out(flat(x), out):
            continue
        mistakes = [(f"your backward unflattens dout in {other} while the forward flattens in {name}: each "
                     "gradient lands on another input element; undo the forward's own reshape",
                     lambda back=back: {i: back(dout)}) for other, (_, back) in orders.items() if other != name]
        kinds.append(Kind(f"flatten, {name}", lambda unflat=unflat: {i: unflat(dout)}, mistakes))
    return kinds


#: Tried in this order; the first that recognises the layer and names a mistake wins.
#: relu comes before dropout: relu is x·[x > 0].
PROBES = (convs, convs_channels_last, norms, pools, activations, dropouts, denses, flattens)
