"""Oracles the tests share, written here from the documented definitions, independently of gradcheck's code.

- the net tables: activations, conventions, bias styles, losses, the output each loss is defined with, and the
  small networks with every layer kind; ``make_spec`` and ``random_spec`` build dense networks from them;
- the loss oracle: C of an output a and targets y, written once for NumPy (complex-safe) and torch alike;
- a forward pass of every layer kind, with explicit loops over output positions (no sliding windows, no
  col2im), complex-safe; relu and max pooling decide on the real part, so their kinks do no harm;
- the complex-step oracle: ∂C/∂θ = Im C(θ + i·h)/h (h = 1e-30), exact to rounding, so tolerances can be tight;
- ``assert_grads_close``, which refuses a comparison where every gradient is zero;
- ``assert_one_mistake_named``: a failed check whose diagnosis is one known mistake, in the words given.
"""

from __future__ import annotations

import math

import numpy as np

from gradcheck import load_spec

HIDDEN = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "softplus"]
CONVENTIONS = ["column", "row"]
BIASES = ["separate", "none", "augmented"]
LOSS_NAMES = ["mse", "quadratic", "sse", "cross_entropy", "bce", "svm"]
#: An output activation each loss is defined with (cross_entropy and bce require theirs).
OUTPUT_FOR = {"mse": "tanh", "quadratic": "sigmoid", "sse": "linear", "cross_entropy": "softmax", "bce": "sigmoid",
              "svm": "linear"}

#: derivations/tiny_cnn.json's layers: conv 3x3 relu, 2x2 max pooling, flatten, dense softmax.
TINY_CNN = {"input": [1, 6, 6], "loss": "cross_entropy", "batch": 3, "layers": [
    {"type": "conv2d", "filters": 2, "kernel": 3, "activation": "relu"}, {"type": "maxpool2d", "size": 2},
    {"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}]}

#: Small networks that together have every layer kind, strides, padding, overlapping windows, norms and dropout.
LAYER_NETS = {
    "cnn": {**TINY_CNN, "seed": 1},
    "strided_padded_conv_avgpool": {
        "input": [2, 7, 7], "loss": "mse", "batch": 2, "seed": 2,
        "layers": [{"type": "conv2d", "filters": 3, "kernel": [3, 2], "stride": [2, 1], "padding": 1,
                    "activation": "tanh"},
                   {"type": "avgpool2d", "size": 2, "stride": 1}, {"type": "flatten"},
                   {"units": 2, "activation": "sigmoid"}]},
    "overlapping_maxpool_no_bias": {
        "input": [2, 5, 5], "loss": "sse", "batch": 3, "seed": 3, "bias": "none",
        "layers": [{"type": "conv2d", "filters": 2, "kernel": 2, "activation": "leaky_relu"},
                   {"type": "maxpool2d", "size": 2, "stride": 1}, {"type": "flatten"}, {"units": 2}]},
    "spatial_norms_dropout": {
        "input": [2, 4, 4], "loss": "bce", "batch": 4, "seed": 4,
        "layers": [{"type": "conv2d", "filters": 3, "kernel": 3, "padding": 1},
                   {"type": "batchnorm"}, {"type": "activation", "activation": "softplus"},
                   {"type": "layernorm", "eps": 1e-3}, {"type": "dropout", "p": 0.25},
                   {"type": "avgpool2d", "size": 2}, {"type": "flatten"},
                   {"units": 2, "activation": "sigmoid"}]},
    "mlp_batchnorm": {
        "input": 3, "loss": "quadratic", "batch": 5, "seed": 5,
        "layers": [{"units": 4}, {"type": "batchnorm"}, {"type": "activation", "activation": "tanh"},
                   {"units": 2, "activation": "sigmoid"}]},
    "groupnorm_unbiased_batchnorm": {
        "input": [2, 4, 4], "loss": "bce", "batch": 3, "seed": 7,
        "layers": [{"type": "conv2d", "filters": 4, "kernel": 3}, {"type": "groupnorm", "groups": 2, "eps": 1e-3},
                   {"type": "activation", "activation": "tanh"}, {"type": "batchnorm", "variance": "unbiased"},
                   {"type": "flatten"}, {"units": 3},
                   {"type": "batchnorm", "variance": "unbiased"}, {"type": "activation", "activation": "softplus"},
                   {"units": 2, "activation": "sigmoid"}]},
    "mlp_layernorm_dropout": {
        "input": 4, "loss": "cross_entropy", "batch": 4, "seed": 6,
        "layers": [{"units": 5, "activation": "tanh"}, {"type": "layernorm"}, {"type": "dropout", "p": 0.5, "seed": 9},
                   {"units": 3, "activation": "softmax"}]},
    "embedding_mlp": {
        "input": {"steps": 3, "vocab": 4}, "loss": "cross_entropy", "batch": 5, "seed": 7,
        "layers": [{"type": "embedding", "dim": 2}, {"type": "flatten"}, {"units": 3, "activation": "tanh"},
                   {"units": 4, "activation": "softmax"}]},
}


def make_spec(sizes, acts, loss="mse", convention="column", bias="separate", batch=5, seed=0):
    """A Spec for a network with layer widths ``sizes`` (input first) and one activation per layer."""
    return load_spec({"input": sizes[0], "layers": [{"units": u, "activation": a} for u, a in zip(sizes[1:], acts)],
                      "loss": loss, "convention": convention, "bias": bias, "batch": batch, "seed": seed})


def random_spec(rng, seed, max_batch=6):
    """A random valid network of 1-3 layers, 1-4 units each, any loss, convention and bias style."""
    depth = int(rng.integers(1, 4))
    sizes = [int(s) for s in rng.integers(1, 5, depth + 1)]
    acts = [str(rng.choice(HIDDEN)) for _ in range(depth)]
    loss = str(rng.choice(LOSS_NAMES))
    if loss in ("cross_entropy", "bce", "svm"):
        acts[-1] = OUTPUT_FOR[loss]
    if loss == "cross_entropy":
        sizes[-1] = max(sizes[-1], 2)  # a softmax over one unit is refused
    return make_spec(sizes, acts, loss, str(rng.choice(CONVENTIONS)), str(rng.choice(BIASES)),
                     batch=int(rng.integers(1, max_batch + 1)), seed=seed)


# -- the loss oracle ---------------------------------------------------------------------------------------

def loss_value(loss, a, y, log=np.log, reduction="mean", margin=1.0):
    """The documented losses of an output a and targets y, both (N, K) (y may be (N,) class labels): NumPy arrays
    (complex too) or torch tensors with ``log=torch.log``; ``reduction`` "sum" divides by nothing, "per_sample" by
    N alone."""
    n, k = a.shape
    if np.ndim(y) == 1:
        y = np.eye(k)[np.asarray(y)]
    n, k = {"mean": (n, k), "sum": (1, 1), "per_sample": (n, 1)}[reduction]
    if loss == "svm":  # CS231n: Σ_n Σ_{j≠y_n} max(0, s_j − s_{y_n} + Δ), with the branch taken on the real part
        s_y = (a * y).sum(axis=1, keepdims=True)
        m = a - s_y + margin
        return ((1 - y) * np.where(np.real(m) > 0, m, 0)).sum() / n
    if loss == "mse":
        return ((a - y) ** 2).sum() / (n * k)
    if loss == "quadratic":
        return ((a - y) ** 2).sum() / (2 * n)
    if loss == "sse":
        return ((a - y) ** 2).sum() / 2
    if loss == "cross_entropy":
        return -(y * log(a)).sum() / n
    if loss == "bce":
        return -(y * log(a) + (1 - y) * log(1 - a)).sum() / (n * k)
    raise AssertionError(loss)


# -- a forward pass of every kind, sample-major, complex-safe ----------------------------------------------

def _erf(z):
    """erf of a real z, or of z = x + iy with a complex step's |y|: erf(x) + iy·(2/√π)·exp(−x²), from math.erf."""
    x = np.real(z)
    out = np.vectorize(math.erf)(x)
    return out + 1j * np.imag(z) * 2 / math.sqrt(math.pi) * np.exp(-x * x) if np.iscomplexobj(z) else out


def activation(name, z, slope=0.01, alpha=1.0):
    """σ(z) for z (features, N) or (N, C, H, W); softmax over axis 0 (the features of a vector batch)."""
    if name == "linear":
        return z
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z.real > 0, z, 0.0 * z)
    if name == "leaky_relu":
        return np.where(z.real > 0, z, slope * z)
    if name in ("elu", "selu"):
        lam, alpha = (1.0507009873554804934, 1.6732632423543772848) if name == "selu" else (1.0, alpha)
        return lam * np.where(z.real > 0, z, alpha * (np.exp(np.where(z.real > 0, 0.0, z)) - 1))
    if name == "gelu":
        return z * (1 + _erf(z / math.sqrt(2))) / 2
    if name == "gelu_tanh":
        return z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3))) / 2
    if name == "softplus":
        return np.log(1.0 + np.exp(z))
    if name == "softmax":
        e = np.exp(z - z.real.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)
    raise AssertionError(name)


def _conv(x, W, b, stride, pad):
    (sh, sw), (kh, kw) = stride, W.shape[2:]
    x = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.zeros((x.shape[0], W.shape[0], ho, wo), dtype=np.result_type(x, W))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = np.tensordot(patch, W, axes=([1, 2, 3], [1, 2, 3]))
    return out + (b[None, :, None, None] if b is not None else 0)


def _pool(x, size, stride, how):
    (kh, kw), (sh, sw) = size, stride
    ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.zeros((*x.shape[:2], ho, wo), dtype=x.dtype)
    for i in range(ho):
        for j in range(wo):
            patch = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(*x.shape[:2], -1)
            if how == "max":
                k = patch.real.argmax(axis=-1)
                out[:, :, i, j] = np.take_along_axis(patch, k[..., None], axis=-1)[..., 0]
            else:
                out[:, :, i, j] = patch.mean(axis=-1)
    return out


def _normalise(x, axes, gamma, beta, eps, ddof=0):
    mu = x.mean(axis=axes, keepdims=True)
    n = x.size // mu.size
    var = ((x - mu) ** 2).sum(axis=axes, keepdims=True) / (n - ddof)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def _group_norm(a, groups, gamma, beta, eps):
    """Each sample's groups of C/G consecutive channels normalised together, then γ and β per channel."""
    n, c, h, w = a.shape
    x = a.reshape(n, groups, (c // groups) * h * w)
    xhat = _normalise(x, 2, 1.0, 0.0, eps).reshape(n, c, h, w)
    return gamma[None, :, None, None] * xhat + beta[None, :, None, None]


def _dense(spec, p, a):
    """z of a dense layer for a (N, fan_in); the augmented bias appends a constant 1 to each sample's input."""
    W = p["W"] if spec.convention == "row" else p["W"].T
    if spec.bias.name == "augmented":
        a = np.hstack([a, np.ones((a.shape[0], 1))])
    return a @ W + (p["b"] if "b" in p else 0)


def network_cost(spec, params, X, Y):
    """C from scratch, with every array sample-major: (N, features) or (N, C, H, W)."""
    row = spec.convention == "row"
    a = X if X.ndim == 4 or row or spec.tokens else X.T
    y = Y if row or np.ndim(Y) == 1 else Y.T
    for ly, p in zip(spec.layers, params):
        o = ly.options
        image = a.ndim == 4
        if ly.kind == "dense":
            z = _dense(spec, p, a)
        elif ly.kind == "conv2d":
            z = _conv(a, p["W"], p.get("b"), o["stride"], o["padding"])
        elif ly.kind in ("maxpool2d", "avgpool2d"):
            z = _pool(a, o["size"], o["stride"], ly.kind[:3])
        elif ly.kind == "flatten":
            z = a.reshape(len(a), -1)
        elif ly.kind == "embedding":  # row ids[n, t] of the table, position by position
            z = np.array([[p["W"][a[n, t]] for t in range(a.shape[1])] for n in range(len(a))])
        elif ly.kind == "batchnorm":
            shape = (1, -1, 1, 1) if image else (1, -1)
            z = _normalise(a, (0, 2, 3) if image else 0, p["gamma"].reshape(shape), p["beta"].reshape(shape), o["eps"],
                           ddof=1 if o.get("variance") == "unbiased" else 0)
        elif ly.kind == "groupnorm":
            z = _group_norm(a, o["groups"], p["gamma"], p["beta"], o["eps"])
        elif ly.kind == "layernorm":
            z = _normalise(a, (1, 2, 3) if image else 1, p["gamma"][None], p["beta"][None], o["eps"])
        elif ly.kind == "dropout":
            mask = p["mask"] if image or row else p["mask"].T
            z = a * mask
        else:
            z = a
        if "activation" in ly.keys:
            keys = {k: ly.options[k] for k in ("slope", "alpha") if k in ly.options}  # leaky_relu's, elu's
            a = activation(ly.activation, z, **keys) if image else activation(ly.activation, z.T, **keys).T
        else:
            a = z
    return loss_value(spec.loss, a, y, reduction=spec.reduction, margin=spec.margin) + penalty(spec, params, len(a))


def penalty(spec, params, n):
    """The regularisation term from its definition: over the W of dense and conv layers (an augmented W without its
    bias line)."""
    reg = spec.regularization
    if reg is None:
        return 0.0
    total = 0.0
    for ly, p in zip(spec.layers, params):
        if ly.kind not in ("dense", "conv2d"):
            continue
        W = p["W"]
        if spec.bias.name == "augmented":
            W = W[:, :-1] if spec.convention == "column" else W[:-1, :]
        if reg.kind == "l1":
            total = total + reg.lam * np.sum(np.where(np.real(W) >= 0, W, -W))
        else:
            total = total + {"sum": reg.lam, "half": reg.lam / 2, "half_n": reg.lam / (2 * n)}[reg.form] * np.sum(W * W)
    return total


# -- the complex-step oracle -------------------------------------------------------------------------------

def complex_step(spec, params, X, Y, h=1e-30):
    """∂C/∂θ for every trainable element (not a dropout mask), Im C(θ + i·h·e)/h of :func:`network_cost`."""
    out = []
    for i, shapes in enumerate(spec.param_shapes()):
        g = {}
        for k in shapes:
            d = np.zeros(params[i][k].shape)
            for idx in np.ndindex(*d.shape):
                bumped = [{kk: vv.astype(complex) for kk, vv in q.items()} for q in params]
                bumped[i][k][idx] += 1j * h
                d[idx] = network_cost(spec, bumped, X, Y).imag / h
            g[k] = d
        out.append(g)
    return out


def assert_grads_close(got, want, rtol=1e-10, what=""):
    """Per-layer dicts of gradients agree to rtol, with an absolute floor of 1e-13 of the largest."""
    assert len(got) == len(want)
    scale = max(np.abs(w[k]).max() for w in want for k in w)
    assert scale > 0, "vacuous: every gradient is zero"
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.keys() == w.keys()
        for k in w:
            assert g[k].shape == w[k].shape, f"{k}{i}"
            np.testing.assert_allclose(g[k], w[k], rtol=rtol, atol=1e-13 * scale, err_msg=f"{k}{i} {what}")


def assert_one_mistake_named(result, *words):
    """``result`` (a failed check) has one diagnosis line, a known mistake, that holds every one of ``words``."""
    assert not result.passed
    assert len(result.diagnosis) == 1 and result.diagnosis[0].startswith("matches a known mistake: "), \
        result.diagnosis
    for w in words:
        assert w in result.diagnosis[0], result.diagnosis[0]


def assert_output_change_is_forward(spec, keys, every=1):
    """A layer-0 kind's structured stack (:meth:`output_change`) against a forward pass of each network's own params,
    for every ``every``-th element of each param of ``keys``."""
    ly, conv, bias = spec.layers[0], spec.conv, spec.bias
    p = spec.parameters()[0]
    X, _ = spec.batch_data()
    z, cache = ly.forward(p, X, conv, bias)
    for key in keys:
        index = np.arange(p[key].size)[::every]
        delta = np.linspace(-0.3, 0.2, len(index))
        got = ly.output_change(p, key, index, delta, cache, z, conv, bias)
        for q, (i, d) in enumerate(zip(index, delta)):
            moved = {**p, key: p[key].copy()}
            moved[key].flat[i] += d
            np.testing.assert_allclose(got[q], ly.forward(moved, X, conv, bias)[0], rtol=1e-12, atol=1e-14,
                                       err_msg=f"{key}[{i}]")


def slipped(spec, layer, key, change):
    """A user's backprop: the reference's gradients, with ``change(g)`` applied in place to a copy of layer
    ``layer``'s ``key`` gradient (a deliberate slip: a sign flipped, an element scaled)."""
    from gradcheck.reference.backprop import backprop

    def impl(params, X, Y):
        _, grads = backprop(spec, params, X, Y)
        grads[layer][key] = np.array(grads[layer][key], dtype=float)
        change(grads[layer][key])
        return grads

    return impl


def case(name):
    """The saved corner network ``tests/cases/NAME.json`` as a dict."""
    import json
    from pathlib import Path

    return json.loads((Path(__file__).parent / "cases" / f"{name}.json").read_text())


def exact_lstm_gradient(net, key, index, digits=60):
    """∂C/∂(layer 0's ``key`` at ``index``) of a network lstm (last state) → dense (linear or tanh), bias
    "none", loss sse, at ``digits`` digits: mpmath differentiates the cost along that element, every gate
    σ(a) = 1/(1 + exp(−a)) computed exactly, so that a float64 backprop's rounding can be measured against it."""
    import mpmath

    spec = load_spec(net)
    params = spec.parameters()
    X, Y = spec.batch_data()
    column = spec.conv.samples_are_columns
    rows_of = (lambda W: np.asarray(W).T) if column else np.asarray
    Y = np.asarray(Y).T if column else np.asarray(Y)
    act = net["layers"][1].get("activation", "linear")
    with mpmath.workdps(digits):
        mp = np.frompyfunc(lambda v: mpmath.mpf(float(v)), 1, 1)
        sig = np.frompyfunc(lambda v: 1 / (1 + mpmath.exp(-v)), 1, 1)
        tanh = np.frompyfunc(mpmath.tanh, 1, 1)
        Wx0, Wh, W = mp(rows_of(params[0]["Wx"])), mp(rows_of(params[0]["Wh"])), mp(rows_of(params[1]["W"]))
        x, y = mp(np.asarray(X, float)), mp(Y)
        H = Wh.shape[0]
        flat = np.ravel_multi_index(index, np.shape(params[0][key]))
        at = np.unravel_index(flat, np.shape(params[0][key]))
        at = tuple(reversed(at)) if column else at  # the element in the row layout

        def cost(w):
            Wx, Wh_ = Wx0.copy(), Wh.copy()
            (Wx if key == "Wx" else Wh_)[at] = w
            h = c = np.full((x.shape[0], H), mpmath.mpf(0), dtype=object)
            for t in range(x.shape[1]):
                a = x[:, t].dot(Wx) + h.dot(Wh_)
                i, f, o, g = sig(a[:, :H]), sig(a[:, H:2 * H]), sig(a[:, 2 * H:3 * H]), tanh(a[:, 3 * H:])
                c = f * c + i * g
                h = o * tanh(c)
            out = h.dot(W)
            out = tanh(out) if act == "tanh" else out
            return sum(v * v for v in (out - y).ravel()) / 2

        return float(mpmath.diff(cost, (Wx0 if key == "Wx" else Wh)[at]))


def all_rounding(A, c):
    """(f, its gradient) of Σ softplus(u) − log 2 − u/2, u = A(x − c): u²/8 near u = 0 in exact arithmetic, and
    computed there the rounding of log 2's terms, 1e-16, a function that is all rounding at its minimum x = c."""

    def f(v):
        u = A @ (v - c)
        return np.sum(np.log1p(np.exp(u)) - np.log(2) - 0.5 * u)

    def grad(v):
        return A.T @ (1 / (1 + np.exp(-(A @ (v - c)))) - 0.5)

    return f, grad
