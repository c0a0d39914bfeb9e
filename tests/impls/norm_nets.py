"""Group norm (CS231n style) and batchnorm with Bessel's correction (makemore's manual backprop), as students write
them, with their classic mistakes; whole-network backprops called as ``fn(params, X, Y)``.

Row convention throughout, one dict of gradients per layer. Each network's net.json is in
:data:`SPECS`; an impl's network is the longest SPECS name it starts with. Nothing here uses
gradcheck.
"""

import cs231n_layers as L  # noqa: N812 - short prefix, as L.affine_forward
import numpy as np

SPECS = {
    # conv pad 1 -> groupnorm (2 groups of 2 channels) -> relu -> flatten -> dense softmax
    "gn_cnn": {
        "input": [2, 3, 3], "loss": "cross_entropy", "convention": "row", "batch": 3, "seed": 4,
        "layers": [
            {"type": "conv2d", "filters": 4, "kernel": 3, "padding": 1},
            {"type": "groupnorm", "groups": 2},
            {"type": "activation", "activation": "relu"},
            {"type": "flatten"},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
    },
    # makemore: dense -> batchnorm with 1/(n − 1) in the variance -> tanh -> dense softmax
    "bessel_mlp": {
        "input": 4, "loss": "cross_entropy", "convention": "row", "batch": 5, "seed": 3,
        "layers": [
            {"type": "dense", "units": 5},
            {"type": "batchnorm", "variance": "unbiased"},
            {"type": "activation", "activation": "tanh"},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
    },
}
SPECS["biased_mlp"] = {**SPECS["bessel_mlp"], "layers": [
    SPECS["bessel_mlp"]["layers"][0], {"type": "batchnorm"}, *SPECS["bessel_mlp"]["layers"][2:]]}

EPS = 1e-5

# -- spatial group norm (CS231n) ----------------------------------------------------------------


def spatial_groupnorm_forward(x, gamma, beta, G):
    """x (N, C, H, W) in G groups of C/G channels; gamma, beta (C,)."""
    N, C, H, W = x.shape
    xg = x.reshape(N, G, -1)
    mu = xg.mean(axis=2, keepdims=True)
    std = np.sqrt(xg.var(axis=2, keepdims=True) + EPS)
    x_hat = ((xg - mu) / std).reshape(N, C, H, W)
    return gamma[None, :, None, None] * x_hat + beta[None, :, None, None], (x_hat, gamma, std, G)


def spatial_groupnorm_backward(dout, cache, sum_axes=(0, 2, 3)):
    """The compact form over each group of M = C/G·H·W values: dx = (M·dx̂ − Σ dx̂ − x̂ Σ dx̂·x̂)/(M·σ)."""
    x_hat, gamma, std, G = cache
    N = dout.shape[0]
    dgamma = (dout * x_hat).sum(axis=sum_axes) if sum_axes else dout * x_hat
    dbeta = dout.sum(axis=sum_axes) if sum_axes else dout
    dx_hat = (dout * gamma[None, :, None, None]).reshape(N, G, -1)
    xh = x_hat.reshape(N, G, -1)
    M = xh.shape[2]
    dx = (M * dx_hat - dx_hat.sum(axis=2, keepdims=True) - xh * (dx_hat * xh).sum(axis=2, keepdims=True)) / (M * std)
    return dx.reshape(dout.shape), dgamma, dbeta


def _gn_cnn(params, X, Y, G=2, sum_axes=(0, 2, 3), keepdims=False):
    c0, n1, _, _, d4 = params
    h0, conv0 = L.conv_forward_naive(X, c0["W"], c0["b"], {"stride": 1, "pad": 1})
    h1, gn1 = spatial_groupnorm_forward(h0, n1["gamma"], n1["beta"], G)
    h2, relu2 = L.relu_forward(h1)
    h3, flat3 = L.flatten_forward(h2)
    scores, aff4 = L.affine_forward(h3, d4["W"], d4["b"])
    _, dscores = L.softmax_loss(scores, Y)
    dh3, dW4, db4 = L.affine_backward(dscores, aff4)
    dh1 = L.relu_backward(L.flatten_backward(dh3, flat3), relu2)
    dh0, dgamma1, dbeta1 = spatial_groupnorm_backward(dh1, gn1, sum_axes)
    if keepdims:  # CS231n's gamma is (1, C, 1, 1): its gradient kept that shape
        dgamma1, dbeta1 = dgamma1.reshape(1, -1, 1, 1), dbeta1.reshape(1, -1, 1, 1)
    _, dW0, db0 = L.conv_backward_naive(dh0, conv0)
    return [{"W": dW0, "b": db0}, {"gamma": dgamma1, "beta": dbeta1}, {}, {}, {"W": dW4, "b": db4}]


def gn_cnn(params, X, Y):
    return _gn_cnn(params, X, Y)


def gn_cnn_per_channel(params, X, Y):
    """``G = C``: each channel its own group, the statistics of instance norm."""
    return _gn_cnn(params, X, Y, G=4)


def gn_cnn_whole_sample(params, X, Y):
    """``G = 1``: the whole sample one group, the statistics of layer norm."""
    return _gn_cnn(params, X, Y, G=1)


def gn_cnn_not_summed(params, X, Y):
    """``dgamma = dout * x_hat; dbeta = dout``: not summed over N, H and W."""
    return _gn_cnn(params, X, Y, sum_axes=None)


def gn_cnn_summed_over_hw_only(params, X, Y):
    """``dgamma = (dout * x_hat).sum(axis=(2, 3))``: one value per sample and channel."""
    return _gn_cnn(params, X, Y, sum_axes=(2, 3))


def gn_cnn_keepdims(params, X, Y):
    return _gn_cnn(params, X, Y, keepdims=True)


# -- batchnorm with Bessel's correction, step by step (makemore's manual backprop) ----------------


def bessel_batchnorm_forward(hprebn, bngain, bnbias, unbiased=True):
    n = hprebn.shape[0]
    bnmeani = 1 / n * hprebn.sum(0, keepdims=True)
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = 1 / (n - 1 if unbiased else n) * bndiff2.sum(0, keepdims=True)
    bnvar_inv = (bnvar + EPS) ** -0.5
    bnraw = bndiff * bnvar_inv
    return bngain * bnraw + bnbias, (bngain, bndiff, bnvar, bnvar_inv, bnraw)


def bessel_batchnorm_backward(dhpreact, cache, unbiased=True):
    """Each forward line backwards; ``unbiased`` is the divisor the backward uses for bnvar."""
    bngain, bndiff, bnvar, bnvar_inv, bnraw = cache
    n = dhpreact.shape[0]
    dbngain = (bnraw * dhpreact).sum(0)
    dbnbias = dhpreact.sum(0)
    dbnraw = bngain * dhpreact
    dbnvar_inv = (bndiff * dbnraw).sum(0, keepdims=True)
    dbndiff = bnvar_inv * dbnraw
    dbnvar = (-0.5 * (bnvar + EPS) ** -1.5) * dbnvar_inv
    dbndiff2 = 1.0 / (n - 1 if unbiased else n) * np.ones_like(bndiff) * dbnvar
    dbndiff += (2 * bndiff) * dbndiff2
    dbnmeani = (-dbndiff).sum(0)
    dhprebn = dbndiff + 1.0 / n * (np.ones_like(bndiff) * dbnmeani)
    return dhprebn, dbngain, dbnbias


def _mlp(params, X, Y, forward_unbiased, backward_unbiased):
    d0, n1, _, d3 = params
    h0, aff0 = L.affine_forward(X, d0["W"], d0["b"])
    h1, bn1 = bessel_batchnorm_forward(h0, n1["gamma"], n1["beta"], forward_unbiased)
    h2, tanh2 = L.tanh_forward(h1)
    scores, aff3 = L.affine_forward(h2, d3["W"], d3["b"])
    _, dscores = L.softmax_loss(scores, Y)
    dh2, dW3, db3 = L.affine_backward(dscores, aff3)
    dh0, dgamma1, dbeta1 = bessel_batchnorm_backward(L.tanh_backward(dh2, tanh2), bn1, backward_unbiased)
    _, dW0, db0 = L.affine_backward(dh0, aff0)
    return [{"W": dW0, "b": db0}, {"gamma": dgamma1, "beta": dbeta1}, {}, {"W": dW3, "b": db3}]


def bessel_mlp(params, X, Y):
    return _mlp(params, X, Y, True, True)


def bessel_mlp_backward_biased(params, X, Y):
    """``dbndiff2 = 1.0/n * ...`` where the forward had ``bnvar = 1/(n-1) * ...``."""
    return _mlp(params, X, Y, True, False)


def biased_mlp(params, X, Y):
    return _mlp(params, X, Y, False, False)


def biased_mlp_backward_unbiased(params, X, Y):
    """``dbndiff2 = 1.0/(n-1) * ...`` where the forward had ``bnvar = 1/n * ...``."""
    return _mlp(params, X, Y, False, True)
