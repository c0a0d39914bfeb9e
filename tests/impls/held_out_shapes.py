"""Layers written the way public code writes them, in shapes the other impls do not cover. Nothing here uses
gradcheck.

* ``Dense``: a layer object with ``forward_pass(X)``/``backward_pass(accum_grad)`` that keeps its input on itself;
  checked as an object, or its bound methods as a function pair whose backward takes no cache.
* ``Lookup``: a layer object whose input is integer ids (``Y = W[X]``); backward returns nothing and adds into
  ``self.gradients``.
* ``Sum``: a layer object whose input is a list of arrays (``Y = X[0] + X[1] + …``); backward returns a list.
* ``Cell``: a recurrent cell whose ``flush_gradients`` empties its step counter and accumulator into lists (so
  a flushed cell cannot run backward), created lazily in its first forward call.
* ``layernorm_*``: a layer norm whose backward returns (1, D) rows for dgamma and dbeta, beside a keepdims
  statistic of shape (N, 1) that is no mistake.
* ``Dropout``: a mask drawn from NumPy's global random state at every forward call.
"""

import numpy as np


class Dense:
    def __init__(self, W, b, bug=False):
        self.W, self.b, self.layer_input, self.bug = W, b, None, bug

    def forward_pass(self, X, training=True):
        self.layer_input = X
        return X @ self.W + self.b

    def backward_pass(self, accum_grad):
        return accum_grad @ (self.W if self.bug else self.W.T)


class Lookup:
    def __init__(self, W, bug=False):
        self.parameters, self.gradients, self.X, self.bug = {"W": W}, {"W": np.zeros_like(W)}, [], bug

    def forward(self, X):
        if X.dtype.kind not in "iu":
            raise TypeError(f"ids must be integers, got {X.dtype}")
        self.X.append(X)
        return self.parameters["W"][X]

    def backward(self, dLdy):
        X = self.X[-1]
        if self.bug:
            self.gradients["W"][X.ravel()] += dLdy.reshape(-1, dLdy.shape[-1])
        else:
            np.add.at(self.gradients["W"], X.ravel(), dLdy.reshape(-1, dLdy.shape[-1]))


class Sum:
    def __init__(self, bug=False):
        self.parameters, self.gradients, self.bug = {}, {}, bug

    def forward(self, X):
        self.X = X
        return sum(X)

    def backward(self, dLdy):
        return [dLdy if i == 0 or not self.bug else 0.5 * dLdy for i in range(len(self.X))]


class Cell:
    """A_t = tanh(X_t @ Wax + A_{t-1} @ Waa); parameters created in the first forward call."""

    def __init__(self, n_out):
        self.n_out, self.parameters, self.gradients, self.derived = n_out, {"Wax": None, "Waa": None}, {}, {}

    def _init_params(self, n_in):
        rng = np.random.default_rng(0)
        self.parameters = {"Wax": rng.normal(size=(n_in, self.n_out)), "Waa": rng.normal(size=(self.n_out, self.n_out))}
        self.gradients = {k: np.zeros_like(v) for k, v in self.parameters.items()}
        self.derived = {"A": [], "X": [], "step": 0, "acc": None}

    def flush_gradients(self):
        for k in self.derived:
            self.derived[k] = []
        self.gradients = {k: np.zeros_like(v) for k, v in self.parameters.items()}

    def forward(self, Xt):
        if self.parameters["Wax"] is None:
            self._init_params(Xt.shape[1])
        d = self.derived
        if not d["A"]:
            d["A"].append(np.zeros((Xt.shape[0], self.n_out)))
        d["step"] += 1
        d["X"].append(Xt)
        d["A"].append(np.tanh(Xt @ self.parameters["Wax"] + d["A"][-1] @ self.parameters["Waa"]))
        return d["A"][-1]

    def backward(self, dLdAt):
        d = self.derived
        d["step"] -= 1
        t = d["step"]
        acc = np.zeros_like(dLdAt) if d["acc"] is None else d["acc"]
        dZ = (dLdAt + acc) * (1 - d["A"][t + 1] ** 2)
        self.gradients["Wax"] += d["X"][t].T @ dZ
        self.gradients["Waa"] += d["A"][t].T @ dZ
        d["acc"] = dZ @ self.parameters["Waa"].T
        return dZ @ self.parameters["Wax"].T


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer norm whose backward returns dgamma and dbeta as (1, D) rows (sums kept with keepdims=True)."""
    mu = x.mean(axis=1, keepdims=True)
    std = np.sqrt(x.var(axis=1, keepdims=True) + ln_param.get("eps", 1e-5))
    xhat = (x - mu) / std
    return gamma * xhat + beta, (xhat, std, gamma)


def layernorm_backward_keepdims(dout, cache):
    xhat, std, gamma = cache
    dbeta = np.sum(dout, axis=0, keepdims=True)
    dgamma = np.sum(dout * xhat, axis=0, keepdims=True)
    dxhat = dout * gamma
    dx = (dxhat - dxhat.mean(axis=1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=1, keepdims=True)) / std
    return dx, dgamma, dbeta


class Dropout:
    """Inverted dropout whose mask is drawn from NumPy's global random state at every forward call."""

    def __init__(self, p=0.5, bug=False):
        self.p, self.bug, self.mask = p, bug, None

    def forward_pass(self, X, training=True):
        self.mask = (np.random.uniform(size=X.shape) > self.p) / (1 - self.p)
        return X * self.mask

    def backward_pass(self, accum_grad):
        return accum_grad if self.bug else accum_grad * self.mask
