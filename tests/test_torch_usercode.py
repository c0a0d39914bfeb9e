"""Opt-in: user code written in torch ops, given CPU tensors, checked through check_function and check_layer with
torch autograd as an exact opinion. Skipped where torch is not installed; gradcheck never depends on it."""

import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_function, check_layer

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parent / "impls"))
import makemore_style as K  # noqa: E402, N812 - manual backprop in torch ops


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one thread, or a busy machine's cores are oversubscribed; restored for the tests after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_manual_backprop_in_torch_checks_through_check_function():
    good = check_function(K.loss, K.grads, K.params())
    assert good.passed and "autograd" in good.opinions
    assert [t.name for t in good.tensors] == ["C", "W1", "b1", "bngain", "bnbias", "W2", "b2"]
    bad = check_function(K.loss, K.grads_bug, K.params())
    assert not bad.passed
    moved = [t for t in bad.tensors if t.name != "b1"]  # batch norm cancels b1: its gradient is 0 either way
    assert all(t.opinion_passed("autograd") and not t.opinion_passed("analytic") for t in moved)
    assert any("every element is 5 × the true value" in d for d in bad.diagnosis), bad.diagnosis


def _forward(x, w, b):
    return torch.tanh(x @ w + b), (x, w, b)


def _backward(dout, cache, slip=False):
    x, w, b = cache
    z = torch.tanh(x @ w + b)
    dz = dout if slip else dout * (1 - z ** 2)
    return dz @ w.T, x.T @ dz, dz.sum(0)


def test_a_torch_layer_gets_tensors_and_an_autograd_opinion():
    seen = []

    def forward(x, w, b):
        seen.append(type(x))
        return _forward(x, w, b)

    g = torch.Generator().manual_seed(1)
    x, w, b = (torch.randn(s, generator=g, dtype=torch.float64) for s in ((4, 3), (3, 2), (2,)))
    good = check_layer(forward, _backward, x, w, b)
    assert good.passed and "autograd" in good.opinions and set(seen) == {torch.Tensor}
    bad = check_layer(_forward, lambda d, c: _backward(d, c, slip=True), x, w, b)
    assert not bad.passed and not bad.tensors[0].passed


def test_code_that_leaves_torch_has_no_autograd_opinion():
    x = torch.randn(3, 2, dtype=torch.float64)
    r = check_function(lambda t: float(np.sum(t.numpy() ** 2)), lambda t: 2 * t, x)
    assert r.passed and "autograd" not in r.opinions
    assert any("torch autograd was skipped" in n for n in r.notes)
