"""Whole-network backprops built from tests/impls/cs231n_layers.py, called as ``fn(params, X, Y)``.

Row convention throughout (X (N, C, H, W) or (N, D); dense W (fan_in, units)), one
entry per layer in the return value: ``{"W": dW, "b": db}``, ``{"gamma": dgamma,
"beta": dbeta}``, or ``{}`` for a layer without params. Each network's net.json is in
:data:`SPECS`; each wrong variant makes one mistake, in every layer of that kind, as one
shared layer function does in a student's code.
"""

import cs231n_layers as L  # noqa: N812 - short prefix, as L.conv_forward_naive

SPECS = {
    # conv pad 1 -> conv stride 2 pad 1 -> max pool -> flatten -> dense softmax
    "deep_cnn": {
        "input": [2, 7, 7], "loss": "cross_entropy", "convention": "row", "batch": 3, "seed": 3,
        "layers": [
            {"type": "conv2d", "filters": 3, "kernel": 3, "padding": 1, "activation": "relu"},
            {"type": "conv2d", "filters": 2, "kernel": 3, "stride": 2, "padding": 1},
            {"type": "maxpool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
    },
    # conv -> spatial batchnorm -> relu -> avg pool -> flatten -> dense softmax
    "bn_cnn": {
        "input": [1, 6, 6], "loss": "cross_entropy", "convention": "row", "batch": 3, "seed": 5,
        "layers": [
            {"type": "conv2d", "filters": 2, "kernel": 3},
            {"type": "batchnorm"},
            {"type": "activation", "activation": "relu"},
            {"type": "avgpool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 2, "activation": "softmax"},
        ],
    },
    # dense -> batchnorm -> relu -> dense softmax
    "bn_mlp": {
        "input": 4, "loss": "cross_entropy", "convention": "row", "batch": 5, "seed": 2,
        "layers": [
            {"type": "dense", "units": 5},
            {"type": "batchnorm"},
            {"type": "activation", "activation": "relu"},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
    },
    # dense tanh -> layernorm -> dropout -> dense, mse
    "ln_dropout": {
        "input": 4, "loss": "mse", "convention": "row", "batch": 4, "seed": 1,
        "layers": [
            {"type": "dense", "units": 6, "activation": "tanh"},
            {"type": "layernorm"},
            {"type": "dropout", "p": 0.5},
            {"type": "dense", "units": 2},
        ],
    },
}

CONV = [{"stride": 1, "pad": 1}, {"stride": 2, "pad": 1}]
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
BN = {"eps": 1e-5}


def _deep_cnn(params, X, Y, conv_backward=L.conv_backward_naive, pool_backward=L.max_pool_backward_naive,
              flatten=(L.flatten_forward, L.flatten_backward)):
    c0, c1, _, _, d4 = params
    h0, conv0 = L.conv_forward_naive(X, c0["W"], c0["b"], CONV[0])
    a0, relu0 = L.relu_forward(h0)
    h1, conv1 = L.conv_forward_naive(a0, c1["W"], c1["b"], CONV[1])
    h2, pool2 = L.max_pool_forward_naive(h1, POOL)
    h3, flat3 = flatten[0](h2)
    scores, aff4 = L.affine_forward(h3, d4["W"], d4["b"])
    _, dscores = L.softmax_loss(scores, Y)
    dh3, dW4, db4 = L.affine_backward(dscores, aff4)
    dh2 = flatten[1](dh3, flat3)
    dh1 = pool_backward(dh2, pool2)
    da0, dW1, db1 = conv_backward(dh1, conv1)
    dh0 = L.relu_backward(da0, relu0)
    _, dW0, db0 = conv_backward(dh0, conv0)
    return [{"W": dW0, "b": db0}, {"W": dW1, "b": db1}, {}, {}, {"W": dW4, "b": db4}]


def deep_cnn(params, X, Y):
    return _deep_cnn(params, X, Y)


def deep_cnn_flipped_dw(params, X, Y):
    return _deep_cnn(params, X, Y, conv_backward=L.conv_backward_flipped_dw)


def deep_cnn_flipped_dx(params, X, Y):
    return _deep_cnn(params, X, Y, conv_backward=L.conv_backward_flipped_dx)


def deep_cnn_padding_kept(params, X, Y):
    return _deep_cnn(params, X, Y, conv_backward=L.conv_backward_padding_kept)


def deep_cnn_stride_ignored(params, X, Y):
    return _deep_cnn(params, X, Y, conv_backward=L.conv_backward_stride_ignored)


def deep_cnn_maxpool_to_all(params, X, Y):
    return _deep_cnn(params, X, Y, pool_backward=L.max_pool_backward_to_all)


def deep_cnn_maxpool_averaged(params, X, Y):
    return _deep_cnn(params, X, Y, pool_backward=L.max_pool_backward_averaged)


def deep_cnn_flatten_fortran(params, X, Y):
    return _deep_cnn(params, X, Y, flatten=(L.flatten_forward_fortran, L.flatten_backward_fortran))


def deep_cnn_flatten_channels_last(params, X, Y):
    return _deep_cnn(params, X, Y, flatten=(L.flatten_forward_channels_last, L.flatten_backward_channels_last))


def deep_cnn_unflatten_channels_last(params, X, Y):
    """Forward flattens in C order, backward unflattens as if the features were (H, W, C)."""
    return _deep_cnn(params, X, Y, flatten=(L.flatten_forward, L.flatten_backward_channels_last))


def _bn_cnn(params, X, Y, bn_backward=L.spatial_batchnorm_backward, pool_backward=L.avg_pool_backward_naive):
    c0, n1, _, _, _, d5 = params
    h0, conv0 = L.conv_forward_naive(X, c0["W"], c0["b"], {"stride": 1, "pad": 0})
    h1, bn1 = L.spatial_batchnorm_forward(h0, n1["gamma"], n1["beta"], BN)
    h2, relu2 = L.relu_forward(h1)
    h3, pool3 = L.avg_pool_forward_naive(h2, POOL)
    h4, flat4 = L.flatten_forward(h3)
    scores, aff5 = L.affine_forward(h4, d5["W"], d5["b"])
    _, dscores = L.softmax_loss(scores, Y)
    dh4, dW5, db5 = L.affine_backward(dscores, aff5)
    dh2 = pool_backward(L.flatten_backward(dh4, flat4), pool3)
    dh0, dgamma1, dbeta1 = bn_backward(L.relu_backward(dh2, relu2), bn1)
    _, dW0, db0 = L.conv_backward_naive(dh0, conv0)
    return [{"W": dW0, "b": db0}, {"gamma": dgamma1, "beta": dbeta1}, {}, {}, {}, {"W": dW5, "b": db5}]


def bn_cnn(params, X, Y):
    return _bn_cnn(params, X, Y)


def bn_cnn_avgpool_not_divided(params, X, Y):
    return _bn_cnn(params, X, Y, pool_backward=L.avg_pool_backward_not_divided)


def bn_cnn_constant_stats(params, X, Y):
    return _bn_cnn(params, X, Y, bn_backward=L.spatial_batchnorm_backward_constant_stats)


def bn_cnn_summed_over_n_only(params, X, Y):
    return _bn_cnn(params, X, Y, bn_backward=L.spatial_batchnorm_backward_summed_over_n_only)


def _bn_mlp(params, X, Y, bn_backward=L.batchnorm_backward):
    d0, n1, _, d3 = params
    h0, aff0 = L.affine_forward(X, d0["W"], d0["b"])
    h1, bn1 = L.batchnorm_forward(h0, n1["gamma"], n1["beta"], BN)
    h2, relu2 = L.relu_forward(h1)
    scores, aff3 = L.affine_forward(h2, d3["W"], d3["b"])
    _, dscores = L.softmax_loss(scores, Y)
    dh2, dW3, db3 = L.affine_backward(dscores, aff3)
    dh0, dgamma1, dbeta1 = bn_backward(L.relu_backward(dh2, relu2), bn1)
    _, dW0, db0 = L.affine_backward(dh0, aff0)
    return [{"W": dW0, "b": db0}, {"gamma": dgamma1, "beta": dbeta1}, {}, {"W": dW3, "b": db3}]


def bn_mlp(params, X, Y):
    return _bn_mlp(params, X, Y)


def bn_mlp_constant_stats(params, X, Y):
    return _bn_mlp(params, X, Y, bn_backward=L.batchnorm_backward_constant_stats)


def bn_mlp_not_summed(params, X, Y):
    return _bn_mlp(params, X, Y, bn_backward=L.batchnorm_backward_not_summed)


def _ln_dropout(params, X, Y, ln_backward=L.layernorm_backward, dropout_backward=L.dropout_backward):
    d0, n1, drop2, d3 = params
    z0, aff0 = L.affine_forward(X, d0["W"], d0["b"])
    h0, tanh0 = L.tanh_forward(z0)
    h1, ln1 = L.layernorm_forward(h0, n1["gamma"], n1["beta"], BN)
    h2, drop = L.dropout_forward(h1, drop2["mask"])
    out, aff3 = L.affine_forward(h2, d3["W"], d3["b"])
    _, dout = L.mse_loss(out, Y)
    dh2, dW3, db3 = L.affine_backward(dout, aff3)
    dh0, dgamma1, dbeta1 = ln_backward(dropout_backward(dh2, drop), ln1)
    _, dW0, db0 = L.affine_backward(L.tanh_backward(dh0, tanh0), aff0)
    return [{"W": dW0, "b": db0}, {"gamma": dgamma1, "beta": dbeta1}, {}, {"W": dW3, "b": db3}]


def ln_dropout(params, X, Y):
    return _ln_dropout(params, X, Y)


def ln_dropout_constant_stats(params, X, Y):
    return _ln_dropout(params, X, Y, ln_backward=L.layernorm_backward_constant_stats)


def ln_dropout_no_mask(params, X, Y):
    return _ln_dropout(params, X, Y, dropout_backward=L.dropout_backward_no_mask)


def ln_dropout_no_rescale(params, X, Y):
    return _ln_dropout(params, X, Y, dropout_backward=L.dropout_backward_no_rescale)
