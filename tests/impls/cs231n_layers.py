"""CS231n-style layers written as a student writes them (naive loops), with the classic backward mistakes.

Every layer is a ``*_forward(x, ...) -> (out, cache)`` / ``*_backward(dout, cache)`` pair
as in the second CS231n assignment. Images are (N, C, H, W), vectors (N, D). The correct
backward of each layer comes first; each wrong one below it makes exactly one mistake,
named in its docstring with the line a student writes. Nothing here uses gradcheck.
"""

import numpy as np

# -- affine, relu, softmax loss -----------------------------------------------------------------


def affine_forward(x, w, b):
    """x (N, D), w (D, M), b (M,) -> out (N, M)."""
    return x @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, _ = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    return dout * (1 - cache ** 2)


def softmax_loss(scores, y):
    """Cross-entropy of softmax(scores) with one-hot (or probability) targets y, averaged over N."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = scores.shape[0]
    loss = -np.sum(y * np.log(probs)) / n
    return loss, (probs - y) / n


def mse_loss(out, y):
    """C = 1/(N·K) Σ (out − y)²."""
    return np.mean((out - y) ** 2), 2 * (out - y) / out.size


# -- convolution (cross-correlation, as in CS231n and PyTorch) ------------------------------------


def conv_forward_naive(x, w, b, conv_param):
    """x (N, C, H, W), w (F, C, HH, WW), b (F,) -> out (N, F, H', W'), H' = 1 + (H + 2·pad − HH) / stride."""
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def _conv_backward(dout, cache, flip_dw=False, flip_dx=False, ignore_stride=False, crop_corner=False):
    x, w, _, conv_param = cache
    N, _, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    step = 1 if ignore_stride else stride
    _, _, H_out, W_out = dout.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    rows, cols = slice(i * step, i * step + HH), slice(j * step, j * step + WW)
                    window = x_pad[n, :, rows, cols]
                    dw[f] += (window[:, ::-1, ::-1] if flip_dw else window) * dout[n, f, i, j]
                    dx_pad[n, :, rows, cols] += (w[f, :, ::-1, ::-1] if flip_dx else w[f]) * dout[n, f, i, j]
    if crop_corner:
        dx = dx_pad[:, :, :H, :W]
    else:
        dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db


def conv_backward_naive(dout, cache):
    """dout (N, F, H', W') -> dx (N, C, H, W), dw (F, C, HH, WW), db (F,)."""
    return _conv_backward(dout, cache)


def conv_backward_flipped_dw(dout, cache):
    """``dw[f] += x_window[:, ::-1, ::-1] * dout[n, f, i, j]``: a true convolution where the forward correlates."""
    return _conv_backward(dout, cache, flip_dw=True)


def conv_backward_flipped_dx(dout, cache):
    """``dx_pad[...] += w[f, :, ::-1, ::-1] * dout[n, f, i, j]``: the kernel rotated by 180° in dx."""
    return _conv_backward(dout, cache, flip_dx=True)


def conv_backward_padding_kept(dout, cache):
    """``dx = dx_pad[:, :, :H, :W]``: the padded gradient cut to size from its corner, padding not stripped."""
    return _conv_backward(dout, cache, crop_corner=True)


def conv_backward_stride_ignored(dout, cache):
    """``x_pad[n, :, i:i + HH, j:j + WW]`` in the backward pass: windows placed as if the stride were 1."""
    return _conv_backward(dout, cache, ignore_stride=True)


# -- pooling ---------------------------------------------------------------------------------------


def _windows(x, pool_param):
    H, W = x.shape[2:]
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    H_out, W_out = 1 + (H - ph) // s, 1 + (W - pw) // s
    for i in range(H_out):
        for j in range(W_out):
            yield i, j, (slice(None), slice(None), slice(i * s, i * s + ph), slice(j * s, j * s + pw))


def max_pool_forward_naive(x, pool_param):
    N, C, H, W = x.shape
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out = np.zeros((N, C, 1 + (H - ph) // s, 1 + (W - pw) // s))
    for i, j, win in _windows(x, pool_param):
        out[:, :, i, j] = x[win].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    """Each window's gradient goes to its maximum."""
    x, pool_param = cache
    dx = np.zeros_like(x)
    for i, j, win in _windows(x, pool_param):
        window = x[win]
        mask = window == window.max(axis=(2, 3), keepdims=True)
        dx[win] += mask * dout[:, :, i, j][:, :, None, None]
    return dx


def max_pool_backward_to_all(dout, cache):
    """``dx[window] += dout[:, :, i, j]``: every element of the window gets the gradient, not only the max."""
    x, pool_param = cache
    dx = np.zeros_like(x)
    for i, j, win in _windows(x, pool_param):
        dx[win] += dout[:, :, i, j][:, :, None, None]
    return dx


def max_pool_backward_averaged(dout, cache):
    """``dx[window] += dout / (ph * pw)``: the max-pool gradient spread as if it were an average pool."""
    x, pool_param = cache
    dx = np.zeros_like(x)
    size = pool_param["pool_height"] * pool_param["pool_width"]
    for i, j, win in _windows(x, pool_param):
        dx[win] += dout[:, :, i, j][:, :, None, None] / size
    return dx


def avg_pool_forward_naive(x, pool_param):
    N, C, H, W = x.shape
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out = np.zeros((N, C, 1 + (H - ph) // s, 1 + (W - pw) // s))
    for i, j, win in _windows(x, pool_param):
        out[:, :, i, j] = x[win].mean(axis=(2, 3))
    return out, (x, pool_param)


def avg_pool_backward_naive(dout, cache):
    """Each element of a window gets 1/(ph·pw) of the window's gradient."""
    return max_pool_backward_averaged(dout, cache)


def avg_pool_backward_not_divided(dout, cache):
    """``dx[window] += dout[:, :, i, j]``: the 1/(ph·pw) of the mean left out."""
    return max_pool_backward_to_all(dout, cache)


# -- batch normalisation, layer normalisation ----------------------------------------------------


def batchnorm_forward(x, gamma, beta, bn_param):
    """Training mode: x (N, D) normalised with the batch's own mean and (biased) variance."""
    eps = bn_param.get("eps", 1e-5)
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    return gamma * x_hat + beta, (x_hat, gamma, std)


def batchnorm_backward(dout, cache):
    """The compact form: dx = γ/(Nσ) · (N·dout − Σ dout − x̂ Σ dout·x̂)."""
    x_hat, gamma, std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def batchnorm_backward_constant_stats(dout, cache):
    """``dx = dout * gamma / std``: μ and σ² treated as constants, as if they did not depend on x."""
    x_hat, gamma, std = cache
    return dout * gamma / std, np.sum(dout * x_hat, axis=0), dout.sum(axis=0)


def batchnorm_backward_not_summed(dout, cache):
    """``dgamma = dout * x_hat; dbeta = dout``: one value per sample, not summed over the batch."""
    dx, _, _ = batchnorm_backward(dout, cache)
    x_hat, _, _ = cache
    return dx, dout * x_hat, dout


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """x (N, C, H, W): each channel normalised over N, H, W (through the (N·H·W, C) reshape)."""
    N, C, H, W = x.shape
    flat = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), (cache, x.shape)


def _spatial_backward(backward, dout, cache):
    bn_cache, (N, C, H, W) = cache
    dx, dgamma, dbeta = backward(dout.transpose(0, 2, 3, 1).reshape(-1, C), bn_cache)
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta


def spatial_batchnorm_backward(dout, cache):
    return _spatial_backward(batchnorm_backward, dout, cache)


def spatial_batchnorm_backward_constant_stats(dout, cache):
    return _spatial_backward(batchnorm_backward_constant_stats, dout, cache)


def spatial_batchnorm_backward_summed_over_n_only(dout, cache):
    """``dgamma = np.sum(dout * x_hat, axis=0)`` on (N, C, H, W): summed over N but not over H and W."""
    dx, _, _ = spatial_batchnorm_backward(dout, cache)
    (x_hat, _, _), (N, C, H, W) = cache
    x_hat = x_hat.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return dx, np.sum(dout * x_hat, axis=0), dout.sum(axis=0)


def layernorm_forward(x, gamma, beta, ln_param):
    """x (N, D): each sample normalised over its D features; gamma, beta (D,)."""
    out, (x_hat, _, std) = batchnorm_forward(x.T, np.ones((x.shape[1], 1)), 0.0, ln_param)
    return gamma * out.T + beta, (x_hat.T, gamma, std)


def layernorm_backward(dout, cache):
    x_hat, gamma, std = cache
    dgamma, dbeta = np.sum(dout * x_hat, axis=0), dout.sum(axis=0)
    dx_hat = (dout * gamma).T
    dx, _, _ = batchnorm_backward(dx_hat, (x_hat.T, 1.0, std))
    return dx.T, dgamma, dbeta


def layernorm_backward_constant_stats(dout, cache):
    """``dx = dout * gamma / std``: the sample's mean and variance treated as constants."""
    x_hat, gamma, std = cache
    return dout * gamma / std[:, None], np.sum(dout * x_hat, axis=0), dout.sum(axis=0)


# -- dropout, flatten ---------------------------------------------------------------------------


def dropout_forward(x, mask):
    """Inverted dropout with a given mask (each entry 0 or 1/(1 − p))."""
    return x * mask, mask


def dropout_backward(dout, cache):
    return dout * cache


def dropout_backward_no_mask(dout, cache):
    """``dx = dout``: the mask left out of the backward pass."""
    return dout.copy()


def dropout_backward_no_rescale(dout, cache):
    """``dx = dout * (mask > 0)``: the mask applied without the 1/(1 − p) rescale."""
    return dout * (cache > 0)


def flatten_forward(x):
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dout, cache):
    return dout.reshape(cache)


def flatten_forward_fortran(x):
    """``x.reshape(N, -1, order="F")``: features in Fortran order (MATLAB habit)."""
    return x.reshape(x.shape[0], -1, order="F"), x.shape


def flatten_backward_fortran(dout, cache):
    return dout.reshape(cache, order="F")


def flatten_forward_channels_last(x):
    """``x.transpose(0, 2, 3, 1).reshape(N, -1)``: features in (H, W, C) order, as in TensorFlow."""
    return x.transpose(0, 2, 3, 1).reshape(x.shape[0], -1), x.shape


def flatten_backward_channels_last(dout, cache):
    N, C, H, W = cache
    return dout.reshape(N, H, W, C).transpose(0, 3, 1, 2)


def flatten_backward_c_order(dout, cache):
    """Unflattens in C order (wrong after a channels-last or a Fortran-order flatten)."""
    return dout.reshape(cache)


def conv_channels_last_forward(x, w, b):
    """A convolution laid out channels last (numpy-ml's layout): x (N, H, W, C), w (kh, kw, C, F), b (F,), stride 1,
    padding 1; out (N, Ho, Wo, F)."""
    kh, kw = w.shape[:2]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ho, wo = xp.shape[1] - kh + 1, xp.shape[2] - kw + 1
    out = np.empty((x.shape[0], ho, wo, w.shape[3]))
    for i in range(ho):
        for j in range(wo):
            out[:, i, j] = np.einsum("nrcd,rcdf->nf", xp[:, i:i + kh, j:j + kw], w) + b
    return out, (x, w, b)


def _conv_channels_last_backward(dout, cache, flip_dw=False):
    x, w, _ = cache
    kh, kw = w.shape[:2]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[1]):
        for j in range(dout.shape[2]):
            dxp[:, i:i + kh, j:j + kw] += np.einsum("nf,rcdf->nrcd", dout[:, i, j], w)
            dw += np.einsum("nrcd,nf->rcdf", xp[:, i:i + kh, j:j + kw], dout[:, i, j])
    return dxp[:, 1:-1, 1:-1], dw[::-1, ::-1] if flip_dw else dw, dout.sum(axis=(0, 1, 2))


def conv_channels_last_backward(dout, cache):
    return _conv_channels_last_backward(dout, cache)


def conv_channels_last_backward_flipped_dw(dout, cache):
    """dW with the kernel flipped by 180° (a true convolution's), while the forward is a cross-correlation."""
    return _conv_channels_last_backward(dout, cache, flip_dw=True)
