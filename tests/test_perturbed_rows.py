"""Finite differences that carry one changed unit's row up through batchnorm and activation layers.

A dense weight W[k, j] (and a batchnorm's γ_j, β_j) moves unit j's z only; batchnorm on vectors
normalises each feature over the batch on its own and a standalone activation acts element by
element, so the change stays one row (N,) up to the next dense layer. The structured evaluation
must give the losses the plain one (every perturbed layer recomputed in full) gives.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_network, load_spec
from gradcheck.numeric.network import numeric_gradient
from gradcheck.numeric.perturbed import Perturbed
from gradcheck.reference.backprop import backprop

NET = {"input": 4, "batch": 6, "seed": 3, "layers": [
    {"units": 5}, {"type": "batchnorm"}, {"type": "activation", "activation": "tanh"},
    {"units": 3, "activation": "softmax"}], "loss": "cross_entropy"}


@pytest.mark.parametrize("convention", ["row", "column"])
@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_rows_through_batchnorm_give_the_plain_losses(convention, act):
    layers = [dict(ly) for ly in NET["layers"]]
    layers[2]["activation"] = act
    spec = load_spec({**NET, "layers": layers, "convention": convention})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    structured, plain = Perturbed(spec, params, X, Y), Perturbed(spec, params, X, Y, structured=False)
    for i in (0, 1):
        assert structured.uses_structure(i)
        flat = np.arange(structured.theta(i).size)
        delta = np.linspace(-1e-3, 1e-3, len(flat))
        got, crossed, _ = structured.losses(i, flat, delta)
        want, crossed_plain, _ = plain.losses(i, flat, delta)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
        np.testing.assert_array_equal(crossed, crossed_plain)


def test_batchnorm_unit_change_is_its_forward_pass_for_one_feature():
    spec = load_spec({**NET, "convention": "row"})
    ly, conv, bias = spec.layers[1], spec.conv, spec.bias
    params = spec.parameters()[1]
    x = np.random.default_rng(0).normal(size=(6, 5))
    z, cache = ly.forward(params, x, conv, bias)
    for key, idx, d in (("gamma", 2, 0.3), ("beta", 4, -0.2)):
        j, row = ly.unit_change(params, key, np.array([idx]), np.array([d]), cache, z, conv, bias)
        moved = {k: v.copy() for k, v in params.items()}
        moved[key][idx] += d
        np.testing.assert_allclose(row[0], ly.forward(moved, x, conv, bias)[0][:, idx], rtol=1e-14)
        assert j[0] == idx


def test_a_wrong_gradient_behind_batchnorm_is_still_caught():
    spec = load_spec({**NET, "convention": "row"})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    numeric = numeric_gradient(spec, params, X, Y)
    np.testing.assert_allclose(numeric.grads[0]["W"], ref[0]["W"], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(numeric.grads[1]["gamma"], ref[1]["gamma"], rtol=1e-7, atol=1e-12)

    def wrong(p, x, y):
        grads = [dict(g) for g in backprop(spec, p, x, y)[1]]
        grads[1]["gamma"] = grads[1]["gamma"] * np.array([1, 1, 1.01, 1, 1])
        return grads

    result = check_network(spec, wrong, symbolic="off")
    assert not result.passed
    assert [t.name for t in result.tensors if not t.opinion_passed("impl")] == ["gamma1"]
