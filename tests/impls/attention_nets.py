"""Multi-head self-attention written as a student writes it, with its classic backward mistakes.

Row convention: x (N, T, D), q = x @ Wq + bq, each weight (D, D) as (in, out). The network
is attention -> flatten -> dense softmax with cross-entropy (:data:`SPECS`), called as
``fn(params, X, Y)``; each wrong variant makes one mistake in the attention backward,
named in its docstring. Nothing here uses gradcheck.
"""

import numpy as np

SPECS = {
    "attn": {
        "input": {"steps": 4, "features": 6}, "loss": "cross_entropy", "convention": "row", "batch": 3, "seed": 4,
        "layers": [{"type": "attention", "heads": 2}, {"type": "flatten"},
                   {"type": "dense", "units": 3, "activation": "softmax"}],
    },
    "causal_attn": {
        "input": {"steps": 4, "features": 6}, "loss": "cross_entropy", "convention": "row", "batch": 3, "seed": 6,
        "layers": [{"type": "attention", "heads": 3, "causal": True}, {"type": "flatten"},
                   {"type": "dense", "units": 3, "activation": "softmax"}],
    },
}


def attention_forward(x, p, heads, causal):
    T, D = x.shape[1:]
    d = D // heads
    q, k, v = x @ p["Wq"] + p["bq"], x @ p["Wk"] + p["bk"], x @ p["Wv"] + p["bv"]
    o = np.zeros_like(q)
    weights = []
    for j in range(heads):
        cols = slice(j * d, (j + 1) * d)
        s = q[:, :, cols] @ k[:, :, cols].transpose(0, 2, 1) / np.sqrt(d)
        if causal:
            s = np.where(np.tril(np.ones((T, T))) > 0, s, -np.inf)
        e = np.exp(s - s.max(axis=2, keepdims=True))
        a = e / e.sum(axis=2, keepdims=True)
        o[:, :, cols] = a @ v[:, :, cols]
        weights.append(a)
    return o @ p["Wo"] + p["bo"], (x, p, q, k, v, weights, o, heads, causal)


def attention_backward(dout, cache, scale=True, softmax="jacobian", mask_in_backward=True):
    x, p, q, k, v, weights, o, heads, causal = cache
    d = x.shape[2] // heads
    grads = {"Wo": np.einsum("ntd,nte->de", o, dout), "bo": dout.sum(axis=(0, 1))}
    do = dout @ p["Wo"].T
    dq, dk, dv = np.zeros_like(q), np.zeros_like(k), np.zeros_like(v)
    for j in range(heads):
        cols = slice(j * d, (j + 1) * d)
        a = weights[j]
        if causal and not mask_in_backward:  # the weights recomputed for the backward, the mask forgotten
            s = q[:, :, cols] @ k[:, :, cols].transpose(0, 2, 1) / np.sqrt(d)
            e = np.exp(s - s.max(axis=2, keepdims=True))
            a = e / e.sum(axis=2, keepdims=True)
        dv[:, :, cols] = a.transpose(0, 2, 1) @ do[:, :, cols]
        da = do[:, :, cols] @ v[:, :, cols].transpose(0, 2, 1)
        if softmax == "jacobian":
            ds = a * (da - (da * a).sum(axis=2, keepdims=True))
        else:
            ds = da * a * (1 - a)
        if scale:
            ds = ds / np.sqrt(d)
        dq[:, :, cols] = ds @ k[:, :, cols]
        dk[:, :, cols] = ds.transpose(0, 2, 1) @ q[:, :, cols]
    for name, g in (("q", dq), ("k", dk), ("v", dv)):
        grads["W" + name] = np.einsum("ntd,nte->de", x, g)
        grads["b" + name] = g.sum(axis=(0, 1))
    dx = dq @ p["Wq"].T + dk @ p["Wk"].T + dv @ p["Wv"].T
    return dx, grads


def _net(params, X, Y, heads, causal, **mistake):
    att, _, dense = params
    N = X.shape[0]
    h, cache = attention_forward(X, att, heads, causal)
    flat = h.reshape(N, -1)
    z = flat @ dense["W"] + dense["b"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    dz = (probs - Y) / N
    dflat = dz @ dense["W"].T
    _, g = attention_backward(dflat.reshape(h.shape), cache, **mistake)
    return [g, {}, {"W": flat.T @ dz, "b": dz.sum(axis=0)}]


def attn(params, X, Y):
    return _net(params, X, Y, 2, False)


def attn_unscaled(params, X, Y):
    """The backward pass forgets the 1/√d: ds is not divided by np.sqrt(d)."""
    return _net(params, X, Y, 2, False, scale=False)


def attn_softmax_elementwise(params, X, Y):
    """The softmax's derivative taken element by element: ds = da * a * (1 - a)."""
    return _net(params, X, Y, 2, False, softmax="elementwise")


def causal_attn(params, X, Y):
    return _net(params, X, Y, 3, True)


def causal_attn_unscaled(params, X, Y):
    return _net(params, X, Y, 3, True, scale=False)


def causal_attn_softmax_elementwise(params, X, Y):
    return _net(params, X, Y, 3, True, softmax="elementwise")


def causal_attn_mask_not_in_backward(params, X, Y):
    """The backward recomputes the weights from q and k without the causal mask."""
    return _net(params, X, Y, 3, True, mask_in_backward=False)
