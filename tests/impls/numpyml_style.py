"""Layer objects in the style of numpy-ml: ``forward(X)`` keeps X in ``self.X``, ``backward(dLdy)`` adds into
``self.gradients`` and returns dX; parameters live in ``self.parameters``. Each class takes ``bug=True`` to make
the one mistake its docstring names. Nothing here uses gradcheck.
"""

import numpy as np


class FullyConnected:
    """Y = X @ W + b, with W and b created in the first forward call and inputs kept in a list, as numpy-ml does.
    Bug: ``dW = X.T @ dLdy / N`` (an average where the sum belongs)."""

    def __init__(self, n_out, seed=0, bug=False):
        self.parameters, self.gradients = {"W": None, "b": None}, {}
        self.n_out, self.seed, self.X, self.bug = n_out, seed, [], bug

    def _init_params(self, n_in):
        rng = np.random.default_rng(self.seed)
        self.parameters = {"W": rng.normal(size=(n_in, self.n_out)), "b": rng.normal(size=(1, self.n_out))}
        self.gradients = {k: np.zeros_like(v) for k, v in self.parameters.items()}

    def flush_gradients(self):
        self.X = []
        self.gradients = {k: np.zeros_like(v) for k, v in self.gradients.items()}

    def forward(self, X, retain_derived=True):
        if self.parameters["W"] is None:
            self._init_params(X.shape[1])
        self.X.append(X)
        return X @ self.parameters["W"] + self.parameters["b"]

    def backward(self, dLdy, retain_grads=True):
        dX = []
        for dy, X in zip([dLdy], self.X):
            dW = X.T @ dy
            self.gradients["W"] += dW / X.shape[0] if self.bug else dW
            self.gradients["b"] += dy.sum(axis=0, keepdims=True)
            dX.append(dy @ self.parameters["W"].T)
        return dX[0] if len(self.X) == 1 else dX


class Conv2D:
    """Cross-correlation over X (N, C, H, W) with W (F, C, k, k), stride 1, zero padding p. Bug: dX pairs dY with the
    kernel flipped by 180°."""

    def __init__(self, in_ch, out_ch, k, pad=1, seed=0, bug=False):
        rng = np.random.default_rng(seed)
        self.parameters = {"W": rng.normal(size=(out_ch, in_ch, k, k)), "b": rng.normal(size=out_ch)}
        self.gradients = {k_: np.zeros_like(v) for k_, v in self.parameters.items()}
        self.pad, self.X, self.bug = pad, [], bug

    def forward(self, X):
        self.X.append(X)
        W, b, p = self.parameters["W"], self.parameters["b"], self.pad
        Xp = np.pad(X, ((0, 0), (0, 0), (p, p), (p, p)))
        k = W.shape[-1]
        ho, wo = Xp.shape[2] - k + 1, Xp.shape[3] - k + 1
        out = np.zeros((X.shape[0], W.shape[0], ho, wo))
        for i in range(ho):
            for j in range(wo):
                out[:, :, i, j] = np.tensordot(Xp[:, :, i:i + k, j:j + k], W, axes=([1, 2, 3], [1, 2, 3])) + b
        return out

    def backward(self, dLdy):
        X, W, p = self.X[0], self.parameters["W"], self.pad
        Wb = W[:, :, ::-1, ::-1] if self.bug else W
        Xp = np.pad(X, ((0, 0), (0, 0), (p, p), (p, p)))
        dXp, dW = np.zeros_like(Xp), np.zeros_like(W)
        k = W.shape[-1]
        for i in range(dLdy.shape[2]):
            for j in range(dLdy.shape[3]):
                dXp[:, :, i:i + k, j:j + k] += np.tensordot(dLdy[:, :, i, j], Wb, axes=([1], [0]))
                dW += np.tensordot(dLdy[:, :, i, j], Xp[:, :, i:i + k, j:j + k], axes=([0], [0]))
        self.gradients["W"] += dW
        self.gradients["b"] += dLdy.sum(axis=(0, 2, 3))
        return dXp[:, :, p:p + X.shape[2], p:p + X.shape[3]]


class BatchNorm1D:
    """Training-mode batch norm of X (N, D) with ``scaler`` and ``intercept``; running statistics are updated on
    every forward call. Bug: dX treats the batch mean and variance as constants."""

    def __init__(self, n_in, epsilon=1e-5, seed=0, bug=False):
        rng = np.random.default_rng(seed)
        self.parameters = {"scaler": 1 + 0.1 * rng.normal(size=n_in), "intercept": 0.1 * rng.normal(size=n_in),
                           "running_mean": np.zeros(n_in), "running_var": np.ones(n_in)}
        self.gradients = {"scaler": np.zeros(n_in), "intercept": np.zeros(n_in)}
        self.epsilon, self.X, self.bug = epsilon, [], bug

    def forward(self, X):
        self.X.append(X)
        mean, var = X.mean(axis=0), X.var(axis=0)
        self.parameters["running_mean"] = 0.9 * self.parameters["running_mean"] + 0.1 * mean
        self.parameters["running_var"] = 0.9 * self.parameters["running_var"] + 0.1 * var
        return self.parameters["scaler"] * (X - mean) / np.sqrt(var + self.epsilon) + self.parameters["intercept"]

    def backward(self, dLdy):
        X = self.X[0]
        N, std = X.shape[0], np.sqrt(X.var(axis=0) + self.epsilon)
        xhat = (X - X.mean(axis=0)) / std
        self.gradients["scaler"] += (dLdy * xhat).sum(axis=0)
        self.gradients["intercept"] += dLdy.sum(axis=0)
        g = dLdy * self.parameters["scaler"]
        if self.bug:
            return g / std
        return (N * g - g.sum(axis=0) - xhat * (g * xhat).sum(axis=0)) / (N * std)


class LSTMCell:
    """One LSTM step from the cell's own state: ``forward(Xt)`` reads (A, C) of the previous call (zeros at first)
    and advances a step counter, as numpy-ml's LSTMCell does; ``backward(dLdAt)`` returns dXt. Gates
    [f, u, o, c] from one matrix W over [A_prev, Xt]. Bug: the cell gradient misses the path through At."""

    def __init__(self, n_in, n_out, seed=0, bug=False):
        rng = np.random.default_rng(seed)
        self.parameters = {"W": 0.5 * rng.normal(size=(n_out + n_in, 4 * n_out)), "b": rng.normal(size=4 * n_out)}
        self.gradients = {k: np.zeros_like(v) for k, v in self.parameters.items()}
        self.n_out, self.t, self.state, self.cache, self.bug = n_out, 0, None, None, bug

    def forward(self, Xt):
        H = self.n_out
        A, C = self.state if self.state is not None else (np.zeros((Xt.shape[0], H)), np.zeros((Xt.shape[0], H)))
        Z = np.hstack([A, Xt])
        a = Z @ self.parameters["W"] + self.parameters["b"]
        f, u, o = (1 / (1 + np.exp(-a[:, k * H:(k + 1) * H])) for k in range(3))
        cc = np.tanh(a[:, 3 * H:])
        Ct = f * C + u * cc
        At = o * np.tanh(Ct)
        self.cache, self.state, self.t = (Z, C, f, u, o, cc, Ct), (At, Ct), self.t + 1
        return At, Ct

    def backward(self, dLdAt):
        Z, C, f, u, o, cc, Ct = self.cache
        tc = np.tanh(Ct)
        dC = 0.0 if self.bug else dLdAt * o * (1 - tc ** 2)
        da = np.hstack([dC * C * f * (1 - f), dC * cc * u * (1 - u), dLdAt * tc * o * (1 - o), dC * u * (1 - cc ** 2)])
        self.gradients["W"] += Z.T @ da
        self.gradients["b"] += da.sum(axis=0)
        return (da @ self.parameters["W"].T)[:, self.n_out:]
