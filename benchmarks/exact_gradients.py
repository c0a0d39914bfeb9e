"""Outside oracles for a network's gradients: torch float64 autograd, and mpmath finite differences at 60 digits.

Both rebuild the network from the spec alone, sample-major ((N, features) or (N, C, H, W)), with one
walk over the layers (:func:`network_loss`) and two sets of operations: torch tensors, and NumPy object
arrays of mpmath numbers. Norms are written out (μ, σ², (x − μ)/√(σ² + eps)) rather than taken
from ``torch.nn.functional``, whose batch norm refuses one value per channel and whose fused layer norm
rounds differently from the formula; bce and cross-entropy are computed from the output's z
(y·softplus(−z) + (1 − y)·softplus(z), and a log-softmax), as the README defines them.

torch is optional: :func:`torch_gradients` returns None without it (``pip install torch==2.13.0``).
"""

from __future__ import annotations

import numpy as np

from gradcheck.catalogue.activations import ACTIVATIONS

__all__ = ["mp_cost", "mp_derivative", "network_loss", "torch_gradients"]


def _sample_major(spec, params, X, Y):
    """(params with dense W as (fan_in[+1], units) and vector dropout masks (N, features), X, Y) sample-major; class
    labels as the one-hot rows the losses compute with."""
    column = spec.conv.name == "column"
    out = []
    for ly, p in zip(spec.layers, params):
        q = dict(p)
        if ly.kind == "dense" and column:
            q["W"] = p["W"].T
        if ly.kind == "dropout" and column and len(ly.in_shape) == 1:
            q["mask"] = p["mask"].T
        out.append(q)
    return out, spec.conv.to_samples(X), spec.conv.to_samples(spec.targets(Y))  # class labels: one-hot first


def _norm(ly, p, a, ops):
    """z of a batchnorm (biased or unbiased variance), layernorm or groupnorm, written out."""
    image, o, x = a.ndim == 4, ly.options, a
    if ly.kind == "batchnorm":
        axes, spread = ((0, 2, 3), (1, -1, 1, 1)) if image else ((0,), (1, -1))
    elif ly.kind == "layernorm":
        axes, spread = ((1, 2, 3), (1, *ly.in_shape)) if image else ((1,), (1, -1))
    else:  # groupnorm: each sample's groups of C/G channels
        x, axes, spread = a.reshape(a.shape[0], o["groups"], -1), (2,), (1, -1, 1, 1)
    mu = ops.mean(x, axes)
    var = ops.mean((x - mu) * (x - mu), axes)
    if o.get("variance") == "unbiased":
        n = int(np.prod([x.shape[i] for i in axes]))
        var = var * ops.const(n) / ops.const(n - 1)
    xhat = ((x - mu) / ops.sqrt(var + ops.const(o["eps"]))).reshape(a.shape)
    return p["gamma"].reshape(spread) * xhat + p["beta"].reshape(spread)


def network_loss(spec, params, X, Y, ops):
    """C of the network for sample-major params/X/Y (see :func:`_sample_major`) with the operations ``ops``."""
    a = X
    for ly, p in zip(spec.layers, params):
        o = ly.options
        if ly.kind == "dense":
            if spec.bias.in_weights:
                a = ops.cat_ones(a)
            z = ops.matmul(a, p["W"]) + (p["b"] if "b" in p else 0)
        elif ly.kind == "conv2d":
            z = ops.conv2d(a, p["W"], p.get("b"), tuple(o["stride"]), o["padding"])
        elif ly.kind in ("maxpool2d", "avgpool2d"):
            z = ops.pool(a, tuple(o["size"]), tuple(o["stride"]), ly.kind == "maxpool2d")
        elif ly.kind == "flatten":
            z = a.reshape(a.shape[0], -1)
        elif ly.kind in ("batchnorm", "layernorm", "groupnorm"):
            z = _norm(ly, p, a, ops)
        elif ly.kind == "dropout":
            z = a * p["mask"]
        else:
            z = a
        a = ops.act(ly.activation, z) if ly.has_activation else z
    n, k = a.shape
    loss = spec.loss
    if loss == "cross_entropy":
        return -ops.total(Y * ops.log_softmax(z)) / n
    if loss == "bce":
        return ops.total(Y * ops.softplus(-z) + (1 - Y) * ops.softplus(z)) / (n * k)
    square = ops.total((a - Y) * (a - Y))
    return {"mse": square / (n * k), "quadratic": square / (2 * n), "sse": square / 2}[loss]


class _TorchOps:
    def __init__(self, torch):
        self.t, self.F = torch, torch.nn.functional

    def cat_ones(self, a):
        return self.t.cat([a, self.t.ones(a.shape[0], 1, dtype=a.dtype)], dim=1)

    def matmul(self, a, W):
        return a @ W

    def conv2d(self, a, W, b, stride, padding):
        return self.F.conv2d(a, W, b, stride=stride, padding=padding)

    def pool(self, a, size, stride, is_max):
        return (self.F.max_pool2d if is_max else self.F.avg_pool2d)(a, size, stride)

    def mean(self, a, axes):
        return a.mean(dim=axes, keepdim=True)

    def sqrt(self, x):
        return self.t.sqrt(x)

    def const(self, v):
        return float(v)

    def total(self, x):
        return x.sum()

    def softplus(self, z):
        # exact, without torch's threshold (softplus(z) = z for z > 20 is off by e^-20)
        t = self.t
        return t.where(z >= 0, z + t.log1p(t.exp(-z.clamp(min=0))), t.log1p(t.exp(z.clamp(max=0))))

    def log_softmax(self, z):
        return self.t.log_softmax(z, dim=1)

    def act(self, name, z):
        t = self.t
        if name == "softmax":
            return t.softmax(z, dim=1)
        return {"linear": lambda: z, "sigmoid": lambda: t.sigmoid(z), "tanh": lambda: t.tanh(z),
                "relu": lambda: t.relu(z), "leaky_relu": lambda: self.F.leaky_relu(z, LEAKY_SLOPE),
                "softplus": lambda: self.softplus(z)}[name]()


#: leaky_relu's default slope (the sweeps draw networks without a ``slope`` key).
LEAKY_SLOPE = dict(ACTIVATIONS["leaky_relu"].params)["slope"]


def torch_gradients(spec, params, X, Y):
    """Every gradient by torch float64 autograd, in the params' own shapes (a list of dicts), or None without
    torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)  # tiny tensors: threads only cost, and the machine is shared
    trainable = spec.param_shapes()
    rows, Xs, Ys = _sample_major(spec, params, X, Y)
    tensors = [{k: torch.tensor(np.asarray(v, float), dtype=torch.float64, requires_grad=k in t)
                for k, v in p.items()} for p, t in zip(rows, trainable)]
    loss = network_loss(spec, tensors, torch.tensor(Xs, dtype=torch.float64), torch.tensor(Ys, dtype=torch.float64),
                        _TorchOps(torch))
    loss.backward()
    column = spec.conv.name == "column"
    out = []
    for ly, p, t in zip(spec.layers, tensors, trainable):
        g = {}
        for k in t:
            grad = p[k].grad
            g[k] = np.zeros(t[k]) if grad is None else grad.numpy().copy()
            if ly.kind == "dense" and k == "W" and column:
                g[k] = g[k].T.copy()
        out.append(g)
    return out


class _MpOps:
    """The same operations on NumPy object arrays of mpmath numbers."""

    def __init__(self, mp):
        self.mp = mp
        self._exp, self._log1p = np.frompyfunc(mp.exp, 1, 1), np.frompyfunc(mp.log1p, 1, 1)
        self._sqrt, self._tanh = np.frompyfunc(mp.sqrt, 1, 1), np.frompyfunc(mp.tanh, 1, 1)
        self._log = np.frompyfunc(mp.log, 1, 1)

    def cat_ones(self, a):
        return np.concatenate([a, np.full((a.shape[0], 1), self.mp.mpf(1), dtype=object)], axis=1)

    def matmul(self, a, W):
        return np.dot(a, W)

    def _windows(self, a, size, stride):
        win = np.lib.stride_tricks.sliding_window_view(a, size, axis=(2, 3))
        return win[:, :, ::stride[0], ::stride[1]]  # (N, C, H', W', kh, kw)

    def conv2d(self, a, W, b, stride, padding):
        if padding:
            a = np.pad(a, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=self.mp.mpf(0))
        win = self._windows(a, W.shape[2:], stride)
        z = np.tensordot(win, W, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)  # (N, F, H', W')
        return z if b is None else z + b.reshape(1, -1, 1, 1)

    def pool(self, a, size, stride, is_max):
        win = self._windows(a, size, stride)
        flat = win.reshape(*win.shape[:4], -1)
        return flat.max(axis=-1) if is_max else flat.sum(axis=-1) / (size[0] * size[1])

    def mean(self, a, axes):
        count = int(np.prod([a.shape[i] for i in axes]))
        return a.sum(axis=axes, keepdims=True) / count

    def sqrt(self, x):
        return self._sqrt(x)

    def const(self, v):
        return self.mp.mpf(float(v))

    def total(self, x):
        return np.sum(x)

    def softplus(self, z):
        pos = np.array([v >= 0 for v in z.ravel()]).reshape(z.shape)
        return np.where(pos, z, 0) + self._log1p(self._exp(np.where(pos, -z, z)))

    def log_softmax(self, z):
        m = z.max(axis=1, keepdims=True)
        return z - m - self._log(self._exp(z - m).sum(axis=1, keepdims=True))

    def act(self, name, z):
        if name == "linear":
            return z
        if name == "sigmoid":
            return 1 / (1 + self._exp(-z))
        if name == "tanh":
            return self._tanh(z)
        if name == "softplus":
            return self.softplus(z)
        if name == "softmax":
            e = self._exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        pos = np.array([v > 0 for v in z.ravel()]).reshape(z.shape)
        return np.where(pos, z, 0 if name == "relu" else self.mp.mpf(LEAKY_SLOPE) * z)


def _mp_arrays(mp, arrays):
    return {k: np.frompyfunc(mp.mpf, 1, 1)(np.asarray(v, float)) for k, v in arrays.items()}


def mp_cost(spec, params, X, Y):
    """The number of mpmath operations a loss takes, roughly (to skip the derivative where it would be slow)."""
    return spec.n_params * spec.n_samples + sum(int(np.prod(ly.out_shape)) for ly in spec.layers) * spec.n_samples


def mp_derivative(spec, params, X, Y, layer, key, flat, dps=60, step=1e-25, sides=False):
    """∂C/∂params[layer][key].flat[flat] by a central difference at ``dps`` digits with step ``step``·max(1, |θ|):
    truncation about step², rounding about 10^−dps/step, so exact to far below float64 rounding. With ``sides``,
    the one-sided derivatives (D₋, D₊) instead, which differ where the element sits on a kink."""
    import mpmath

    with mpmath.workdps(dps):
        mp = mpmath.mp
        rows, Xs, Ys = _sample_major(spec, params, X, Y)
        ops = _MpOps(mp)
        base = [_mp_arrays(mp, p) for p in rows]
        Xm, Ym = _mp_arrays(mp, {"X": Xs, "Y": Ys}).values()
        target = base[layer][key]
        index = np.unravel_index(flat, params[layer][key].shape)
        if spec.layers[layer].kind == "dense" and key == "W" and spec.conv.name == "column":
            index = index[::-1]  # W was transposed to (fan_in, units)
        theta = target[index]
        h = mp.mpf(step) * max(1, abs(theta))
        values = []
        for sign in (1, -1, 0) if sides else (1, -1):
            target[index] = theta + sign * h
            values.append(network_loss(spec, base, Xm, Ym, ops))
        target[index] = theta
        if sides:
            return float((values[2] - values[1]) / h), float((values[0] - values[2]) / h)
        return float((values[0] - values[1]) / (2 * h))
