"""makemore's character MLP with its backward pass written by hand, as in the manual backprop exercise.

Row convention: Xb (N, T) token ids, C (V, E) the embedding table, W1 (T·E, H), W2 (H, V),
Yb (N, V) one-hot. Called as ``fn(params, X, Y)``; one entry per layer of :data:`SPEC`. The
correct backward of the table comes first; each wrong one makes one classic mistake.
Nothing here uses gradcheck.
"""

import numpy as np

SPEC = {"input": {"steps": 3, "vocab": 6}, "loss": "cross_entropy", "convention": "row", "batch": 8, "seed": 4,
        "layers": [{"type": "embedding", "dim": 2}, {"type": "flatten"},
                   {"type": "dense", "units": 5, "activation": "tanh"},
                   {"type": "dense", "units": 6, "activation": "softmax"}]}


def _backprop(params, Xb, Yb, demb_to_dC):
    C, (W1, b1), (W2, b2) = params[0]["W"], (params[2]["W"], params[2]["b"]), (params[3]["W"], params[3]["b"])
    n = Xb.shape[0]
    emb = C[Xb]  # (N, T, E)
    embcat = emb.reshape(n, -1)
    h = np.tanh(embcat @ W1 + b1)
    logits = h @ W2 + b2
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    dlogits = (probs - Yb) / n
    dW2, db2 = h.T @ dlogits, dlogits.sum(axis=0)
    dhpre = (dlogits @ W2.T) * (1 - h ** 2)
    dW1, db1 = embcat.T @ dhpre, dhpre.sum(axis=0)
    demb = (dhpre @ W1.T).reshape(emb.shape)
    return [{"W": demb_to_dC(demb, Xb, C)}, {}, {"W": dW1, "b": db1}, {"W": dW2, "b": db2}]


def _loop(demb, Xb, C):
    dC = np.zeros_like(C)
    for k in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            dC[Xb[k, j]] += demb[k, j]
    return dC


def _assigned(demb, Xb, C):
    dC = np.zeros_like(C)
    dC[Xb] = demb  # a token seen twice keeps one δ
    return dC


def _buffered(demb, Xb, C):
    dC = np.zeros_like(C)
    dC[Xb] += demb  # fancy-index += is buffered: the same as the assignment
    return dC


def correct(params, X, Y):
    return _backprop(params, X, Y, _loop)


def assigned(params, X, Y):
    return _backprop(params, X, Y, _assigned)


def buffered(params, X, Y):
    return _backprop(params, X, Y, _buffered)
