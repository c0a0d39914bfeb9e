"""Linear regression with 1-D targets, as people often write it: row convention, one linear output, mse.

X (N, D), Y (N, 1), params [{"W": (D, 1), "b": (1,)}]. ``y = Y[:, 0]`` is (N,), so
``pred - y`` broadcasts (N, 1) - (N,) to (N, N), silently.
"""


def backprop(params, X, Y):
    W, b = params[0]["W"], params[0]["b"]
    y = Y[:, 0]
    pred = X @ W + b
    err = pred - y
    n = X.shape[0]
    dW = 2 * X.T @ err.mean(axis=1, keepdims=True) / n
    db = 2 * err.mean(axis=1).sum(keepdims=True) / n
    return [{"W": dW, "b": db}]
