"""check_function takes parameters nested as people keep them: Nielsen's (biases, weights), each a list over
layers, or a dict of lists; the gradient comes back in the same nesting."""

import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_function

sys.path.insert(0, str(Path(__file__).parent / "impls"))
from nested_params import Net

X, Y = np.random.default_rng(5).normal(size=(3, 1)), np.array([[0.2], [0.9]])


def _pair_check(net):
    def cost(bw):
        net.biases, net.weights = bw
        return net.cost(X, Y)

    def grad(bw):
        net.biases, net.weights = bw
        return net.backprop(X, Y)

    return check_function(cost, grad, (net.biases, net.weights))


def test_a_tuple_of_lists_is_checked_array_by_array():
    good = _pair_check(Net([3, 4, 2]))
    assert good.passed and [t.name for t in good.tensors] == ["x[0][0]", "x[0][1]", "x[1][0]", "x[1][1]"]
    bad = _pair_check(Net([3, 4, 2], bug=True))
    assert not bad.passed


def test_a_dict_of_lists_is_checked_array_by_array():
    net = Net([3, 4, 2])

    def cost(p):
        net.biases, net.weights = p["b"], p["W"]
        return net.cost(X, Y)

    def grad(p):
        net.biases, net.weights = p["b"], p["W"]
        nb, nw = net.backprop(X, Y)
        return {"b": nb, "W": nw}

    r = check_function(cost, grad, {"b": net.biases, "W": net.weights})
    assert r.passed and [t.name for t in r.tensors] == ["b[0]", "b[1]", "W[0]", "W[1]"]


def test_a_gradient_in_another_nesting_is_a_problem_line():
    net = Net([3, 4, 2])
    r = check_function(lambda bw: 0.0, lambda bw: (net.biases,), (net.biases, net.weights))
    assert not r.passed and "returned 1 values at x; expected 2, as in x" in r.problems[0], r.problems


def test_a_ragged_input_is_a_clear_error():
    with pytest.raises(ValueError, match="is ragged"):
        check_function(lambda x: 0.0, lambda x: x, [[1.0, 2.0], [3.0]])
