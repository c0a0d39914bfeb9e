"""The judge on networks: small wrong gradients fail, inconclusive only where the bound says so."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_network
from gradcheck.backprop import backprop
from gradcheck.numeric import numeric_gradient
from gradcheck.spec import load_spec


def vanishing_net():
    """Nielsen's chapter 5 setting: 12 sigmoid layers, layer 0's gradient is ~1e-9."""
    spec = load_spec({"input": 3, "layers": [{"units": 3, "activation": "sigmoid"}] * 12, "loss": "quadratic",
                      "batch": 4, "seed": 0})
    return spec, spec.parameters(), spec.batch_data()


def with_layer0(spec, change):
    def impl(params, X, Y):
        _, grads = backprop(spec, params, X, Y)
        grads[0]["W"] = change(grads[0]["W"])
        return grads
    return impl


def test_the_premise_layer_0_gradients_are_tiny():
    spec, params, (X, Y) = vanishing_net()
    _, grads = backprop(spec, params, X, Y)
    assert np.abs(grads[0]["W"]).max() < 1e-8 < np.abs(grads[-1]["W"]).max()


@pytest.mark.parametrize("mistake", [lambda w: 2 * w, lambda w: -w, lambda w: w.T, lambda w: 1.01 * w],
                         ids=["doubled", "sign-flipped", "transposed", "one-percent"])
def test_a_wrong_vanishing_gradient_fails(mistake):
    spec, params, data = vanishing_net()
    result = check_network(spec, with_layer0(spec, mistake), symbolic="off", params=params, data=data)
    assert not result.passed
    assert not result.tensor("W0").opinion_passed("impl")
    assert all(t.passed for t in result.tensors if t.name != "W0")


def test_the_right_vanishing_gradient_passes():
    spec, params, data = vanishing_net()
    result = check_network(spec, with_layer0(spec, lambda w: w), symbolic="off", params=params, data=data)
    assert result.passed, str(result)


def test_inconclusive_only_where_the_bound_exceeds_the_tolerance():
    spec, params, (X, Y) = vanishing_net()
    result = check_network(spec, symbolic="off", params=params, data=(X, Y), method="central")
    num = numeric_gradient(spec, params, X, Y, method="central")
    for t in result.tensors:
        ver, bound = t.verdict("backprop"), num.bounds[t.layer][t.kind]
        a, n = t.values["backprop"], t.values["numeric"]
        tol = t.rtol * np.maximum(np.abs(a), np.abs(n))
        inconclusive = ver == "inconclusive"
        # Every inconclusive element has a disagreement beyond rtol that its bound explains ...
        assert np.all(np.abs(a - n)[inconclusive] > tol[inconclusive])
        assert np.all(np.abs(a - n)[inconclusive] <= tol[inconclusive] + 3 * bound[inconclusive])
        # ... and every element whose bound is far below the tolerance is decided.
        assert not np.any(inconclusive & (3 * bound < 0.5 * tol))
