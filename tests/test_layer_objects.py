"""check_layer(layer, X) for layer objects (numpy-ml style): a fresh copy per evaluation, parameters and gradients
from the object's dicts, leaking state named."""

import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_layer

sys.path.insert(0, str(Path(__file__).parent / "impls"))
import numpyml_style as M  # noqa: N812 - numpy-ml style layer objects

RNG = np.random.default_rng(7)
X = RNG.normal(size=(4, 3))
LAYERS = {
    "FullyConnected": (lambda bug: M.FullyConnected(5, bug=bug), X, ["X", "W", "b"], "constant factor"),
    "Conv2D": (lambda bug: M.Conv2D(2, 3, 3, bug=bug), RNG.normal(size=(1, 2, 4, 4)), ["X", "W", "b"],
               "dX: matches a known mistake of conv2d 3x3, stride 1, padding 1"),
    "BatchNorm1D": (lambda bug: M.BatchNorm1D(3, bug=bug), X, ["X", "scaler", "intercept"],
                    "dX: matches a known mistake of batchnorm"),
    "LSTMCell": (lambda bug: M.LSTMCell(3, 4, bug=bug), X, ["Xt", "W", "b"], None),
}


@pytest.mark.parametrize("kind", list(LAYERS))
def test_a_layer_object_checks_in_one_line(kind):
    make, x, names, cause = LAYERS[kind]
    good = check_layer(make(False), x)
    assert good.passed and [t.name for t in good.tensors] == names
    bad = check_layer(make(True), x)
    assert not bad.passed and not bad.problems
    if cause:
        assert any(cause in d for d in bad.diagnosis), bad.diagnosis


def test_a_used_layer_is_flushed_and_a_lazy_one_initialised():
    layer = M.FullyConnected(5)
    layer.forward(X + 1.0)  # a stale input in layer.X, and W created
    assert check_layer(layer, X).passed
    assert len(layer.X) == 1  # the user's object is not touched


def test_state_that_leaks_between_calls_is_named():
    r = check_layer(M.LSTMCell(3, 4), X)
    assert any("LSTMCell.forward gives a different result when called again" in n for n in r.notes)
    assert not any("called again" in n for n in check_layer(M.FullyConnected(5), X).notes)


class _Named:
    """Parameters and gradients under names of its own."""

    def __init__(self, bug=False):
        self.weights, self.dweights, self.bug = {"W": RNG.normal(size=(3, 2))}, {}, bug

    def forward(self, X):
        self.X = X
        return np.tanh(X @ self.weights["W"])

    def backward(self, dout):
        dz = dout * (1 - np.tanh(self.X @ self.weights["W"]) ** 2)
        self.dweights["W"] = self.X.T @ (dout if self.bug else dz)
        return dz @ self.weights["W"].T


def test_params_and_grads_name_the_dicts():
    assert check_layer(_Named(), X, params="weights", grads="dweights").passed
    assert not check_layer(_Named(bug=True), X, params="weights", grads="dweights").passed
    with pytest.raises(ValueError, match="no dict attribute 'grad'"):
        check_layer(_Named(), X, params="weights", grads="grad")
    with pytest.raises(ValueError, match="params= and grads= name a layer object's dicts"):
        check_layer(np.tanh, lambda d, c: d, X, params="weights")
