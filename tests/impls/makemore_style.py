"""A character MLP with batch norm and its backward pass written by hand in torch ops, as in the manual backprop
exercise of makemore (part 4): embedding C[Xb], a linear layer, batch norm (Bessel's n − 1 in the variance), tanh, a
second linear layer, cross-entropy. ``loss(p)`` and ``grads(p)`` take a dict of tensors. ``grads_bug`` makes the
exercise's classic slip: dlogits not divided by the batch size n. Nothing here uses gradcheck.
"""

import torch
import torch.nn.functional as F  # noqa: N812 - as the exercise writes it

Xb = torch.tensor([[1, 2, 3], [0, 4, 4], [2, 2, 1], [3, 0, 4], [4, 1, 0]])
Yb = torch.tensor([1, 0, 4, 2, 3])


def _forward(p):
    emb = p["C"][Xb]
    embcat = emb.view(emb.shape[0], -1)
    hprebn = embcat @ p["W1"] + p["b1"]
    n = hprebn.shape[0]
    bnmeani = hprebn.sum(0, keepdim=True) / n
    bndiff = hprebn - bnmeani
    bnvar = (bndiff ** 2).sum(0, keepdim=True) / (n - 1)
    bnvar_inv = (bnvar + 1e-5) ** -0.5
    bnraw = bndiff * bnvar_inv
    hpreact = p["bngain"] * bnraw + p["bnbias"]
    h = torch.tanh(hpreact)
    logits = h @ p["W2"] + p["b2"]
    return logits, (emb, embcat, bndiff, bnvar_inv, bnraw, h)


def loss(p):
    logits, _ = _forward(p)
    return F.cross_entropy(logits, Yb)


def grads(p, divide_by_n=True):
    logits, (emb, embcat, _, bnvar_inv, bnraw, h) = _forward(p)
    n = logits.shape[0]
    dlogits = F.softmax(logits, 1)
    dlogits[range(n), Yb] -= 1
    if divide_by_n:
        dlogits = dlogits / n
    dh = dlogits @ p["W2"].T
    dW2, db2 = h.T @ dlogits, dlogits.sum(0)
    dhpreact = (1.0 - h ** 2) * dh
    dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
    dbnbias = dhpreact.sum(0, keepdim=True)
    dhprebn = p["bngain"] * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) - n / (n - 1) * bnraw
                                             * (dhpreact * bnraw).sum(0))
    dembcat = dhprebn @ p["W1"].T
    dW1, db1 = embcat.T @ dhprebn, dhprebn.sum(0)
    demb = dembcat.view(emb.shape)
    dC = torch.zeros_like(p["C"])
    dC.index_put_((Xb,), demb, accumulate=True)
    return {"C": dC, "W1": dW1, "b1": db1, "bngain": dbngain, "bnbias": dbnbias, "W2": dW2, "b2": db2}


def grads_bug(p):
    """``dlogits = softmax(logits) - onehot``: the 1/n of the mean over the batch left out."""
    return grads(p, divide_by_n=False)


def params(seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = {"C": (5, 2), "W1": (6, 4), "b1": (4,), "bngain": (1, 4), "bnbias": (1, 4), "W2": (4, 5), "b2": (5,)}
    return {k: torch.randn(s, generator=g, dtype=torch.float64) for k, s in shapes.items()}
