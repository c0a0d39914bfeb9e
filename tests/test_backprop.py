"""The reference backprop against derivations written here, independently of gradcheck.

Two independent references:

* the complex-step derivative ∂C/∂θ = Im C(θ + i·h) / h (h = 1e-30) of the forward pass and
  cost in oracles.py, written from the documented definitions: exact to rounding, so the
  tolerance can be tight, and relu's kink is no problem (the step is imaginary);
* a per-sample loop following Nielsen's four equations (BP1-BP4), for a few networks.
"""

from __future__ import annotations

import numpy as np
import pytest
from oracles import HIDDEN, OUTPUT_FOR, assert_grads_close, complex_step, make_spec, network_cost, random_spec

from gradcheck import forward, load_spec
from gradcheck.catalogue import ACTIVATIONS, LOSSES
from gradcheck.reference.backprop import backprop  # the function (gradcheck.reference.backprop is also its module)

MEAN_LOSSES = ["mse", "quadratic", "cross_entropy", "bce"]


make = make_spec


def check_against_complex_step(spec, seed=None):
    params, (X, Y) = spec.parameters(seed), spec.batch_data(seed)
    C, grads = backprop(spec, params, X, Y)
    np.testing.assert_allclose(C, network_cost(spec, params, X, Y), rtol=1e-13)
    assert_grads_close(grads, complex_step(spec, params, X, Y), what=spec.describe())
    return grads


# -- against the complex step -----------------------------------------------------------

@pytest.mark.parametrize("bias", ["separate", "none", "augmented"])
@pytest.mark.parametrize("convention", ["column", "row"])
@pytest.mark.parametrize("act", HIDDEN)
def test_every_activation_convention_and_bias(act, convention, bias):
    check_against_complex_step(make([3, 4, 2], [act, act], "mse", convention, bias, seed=1))


@pytest.mark.parametrize("bias", ["separate", "none", "augmented"])
@pytest.mark.parametrize("convention", ["column", "row"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_loss_convention_and_bias(loss, convention, bias):
    check_against_complex_step(make([3, 4, 3], ["tanh", OUTPUT_FOR[loss]], loss, convention, bias, seed=2))


@pytest.mark.parametrize("out", HIDDEN)
def test_every_output_activation(out):
    check_against_complex_step(make([2, 3, 2], ["sigmoid", out], "quadratic", seed=4))


@pytest.mark.parametrize("seed", range(24))
def test_random_nets(seed):
    spec = random_spec(np.random.default_rng([seed, 7]), seed, max_batch=5)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    assert_grads_close(grads, complex_step(spec, params, X, Y), what=spec.describe())


def test_given_params_and_data():
    spec = load_spec({
        "input": 2, "loss": "quadratic",
        "layers": [{"units": 2, "activation": "sigmoid"}, {"units": 1, "activation": "sigmoid"}],
        "params": [{"W": [[0.27660583, 1.00106314], [0.34017727, 0.74990392]], "b": [1.0, 1.0]},
                   {"W": [[1.095244, -0.22719165]], "b": [1.0]}],
        "data": {"X": [[0, 0], [0, 1], [1, 0], [1, 1]], "Y": [0, 1, 1, 1]}})
    check_against_complex_step(spec)


# -- against Nielsen's per-sample equations ----------------------------------------------

def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def nielsen(weights, biases, xs, ys, act="sigmoid", cost="quadratic"):
    """network.py's backprop, one sample at a time (column vectors), then averaged or summed per the cost.

    BP1 δ^L = ∇_a C_x ⊙ σ'(z^L); BP2 δ^l = ((W^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l); BP3 ∂C/∂b = δ; BP4 ∂C/∂W = δ a^{l-1}ᵀ.
    """
    f = {"sigmoid": _sig, "tanh": np.tanh}[act]
    fp = {"sigmoid": lambda z: _sig(z) * (1 - _sig(z)), "tanh": lambda z: 1 - np.tanh(z) ** 2}[act]
    nabla_w = [np.zeros(w.shape) for w in weights]
    nabla_b = [np.zeros(b.shape) for b in biases]
    k = len(ys[0])
    for x, y in zip(xs, ys):
        activation, activations, zs = np.reshape(x, (-1, 1)), [np.reshape(x, (-1, 1))], []
        for w, b in zip(weights, biases):
            z = w @ activation + b
            zs.append(z)
            activation = f(z)
            activations.append(activation)
        y = np.reshape(y, (-1, 1))
        grad_a = {"quadratic": activations[-1] - y, "sse": activations[-1] - y,
                  "mse": 2 * (activations[-1] - y) / k}[cost]
        delta = grad_a * fp(zs[-1])
        nabla_b[-1] += delta
        nabla_w[-1] += delta @ activations[-2].T
        for layer in range(2, len(weights) + 1):
            delta = (weights[-layer + 1].T @ delta) * fp(zs[-layer])
            nabla_b[-layer] += delta
            nabla_w[-layer] += delta @ activations[-layer - 1].T
    n = 1 if cost == "sse" else len(xs)
    return [w / n for w in nabla_w], [b[:, 0] / n for b in nabla_b]


@pytest.mark.parametrize(("sizes", "act", "cost", "seed"), [
    ([2, 2, 1], "sigmoid", "quadratic", 0), ([3, 4, 2], "sigmoid", "sse", 1), ([2, 5, 3, 2], "tanh", "mse", 2),
    ([4, 3], "tanh", "quadratic", 3),
])
def test_matches_nielsen_per_sample_loop(sizes, act, cost, seed):
    spec = make(sizes, [act] * (len(sizes) - 1), cost, batch=6, seed=seed)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    nw, nb = nielsen([p["W"] for p in params], [p["b"][:, None] for p in params], X.T, Y.T, act, cost)
    want = [{"W": w, "b": b} for w, b in zip(nw, nb)]
    assert_grads_close(grads, want, rtol=1e-12)


def test_softmax_cross_entropy_delta_is_a_minus_y_over_n():
    spec = make([4, 3], ["softmax"], "cross_entropy", convention="row", batch=6, seed=5)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    z = X @ params[0]["W"] + params[0]["b"]
    a = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    delta = (a - Y) / len(X)
    np.testing.assert_allclose(grads[0]["W"], X.T @ delta, rtol=1e-12)
    np.testing.assert_allclose(grads[0]["b"], delta.sum(axis=0), rtol=1e-12)


# -- structure ----------------------------------------------------------------------------

@pytest.mark.parametrize("bias", ["separate", "none", "augmented"])
@pytest.mark.parametrize("convention", ["column", "row"])
def test_gradients_have_exactly_the_params_shapes(convention, bias):
    spec = make([3, 5, 4, 2], ["relu", "tanh", "sigmoid"], "bce", convention, bias, batch=7)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    C, grads = backprop(spec, params, X, Y)
    assert isinstance(C, float) and np.isfinite(C)
    assert [g.keys() for g in grads] == [p.keys() for p in params]
    for g, p in zip(grads, params):
        for k in p:
            assert g[k].shape == p[k].shape and g[k].dtype == np.float64


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("convention", ["column", "row"])
def test_batch_is_the_mean_or_sum_of_per_sample_calls(loss, convention):
    spec = make([3, 4, 3], ["tanh", OUTPUT_FOR[loss]], loss, convention, "separate", batch=5, seed=6)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    Y = spec.targets(Y)  # class labels (svm) as one-hot rows, to take one sample's
    _, batch = backprop(spec, params, X, Y)
    ax = spec.conv.sample_axis
    per = [backprop(spec, params, np.take(X, [n], axis=ax), np.take(Y, [n], axis=ax))[1] for n in range(5)]
    reduce = np.sum if loss == "sse" else np.mean
    want = [{k: reduce([p[i][k] for p in per], axis=0) for k in batch[i]} for i in range(len(batch))]
    assert_grads_close(batch, want, rtol=1e-12)
    # And C likewise.
    C = backprop(spec, params, X, Y)[0]
    Cs = [backprop(spec, params, np.take(X, [n], axis=ax), np.take(Y, [n], axis=ax))[0] for n in range(5)]
    np.testing.assert_allclose(C, reduce(Cs), rtol=1e-12)


@pytest.mark.parametrize("bias", ["separate", "none", "augmented"])
@pytest.mark.parametrize(("acts", "loss"), [(["sigmoid", "softmax"], "cross_entropy"), (["relu", "linear"], "mse"),
                                            (["tanh", "sigmoid"], "bce")])
def test_row_convention_is_the_transpose_of_column(acts, loss, bias):
    col = make([3, 4, 3], acts, loss, "column", bias, batch=5, seed=8)
    row = make([3, 4, 3], acts, loss, "row", bias, batch=5, seed=8)
    params, (X, Y) = col.parameters(), col.batch_data()
    tparams = [{k: (v.T if k == "W" else v) for k, v in p.items()} for p in params]
    Cc, gc = backprop(col, params, X, Y)
    Cr, gr = backprop(row, tparams, X.T, Y.T)
    np.testing.assert_allclose(Cr, Cc, rtol=1e-14)
    for c, r in zip(gc, gr):
        np.testing.assert_allclose(r["W"], c["W"].T, rtol=1e-13, atol=1e-16)
        if "b" in c:
            np.testing.assert_allclose(r["b"], c["b"], rtol=1e-13, atol=1e-16)
    fc, fr = forward(col, params, X), forward(row, tparams, X.T)
    for zc, zr in zip(fc.z, fr.z):
        np.testing.assert_allclose(zr, zc.T, rtol=1e-14)


def test_forward_accepts_a_stack_of_networks():
    spec = make([3, 4, 2], ["tanh", "sigmoid"], "quadratic", "row", "augmented", seed=9)
    nets = [spec.parameters(s) for s in range(3)]
    stacked = [{k: np.stack([n[i][k] for n in nets]) for k in nets[0][i]} for i in range(2)]
    X, _ = spec.batch_data()
    out = forward(spec, stacked, X).output
    for s, p in enumerate(nets):
        np.testing.assert_allclose(out[s], forward(spec, p, X).output, rtol=1e-14)


def test_relu_derivative_is_zero_at_the_kink():
    # Documented: relu'(0) = 0 (as NumPy code writes it); leaky_relu'(0) = 0.01.
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(ACTIVATIONS["relu"].derivative(z, np.maximum(z, 0)), [0, 0, 1])
    np.testing.assert_array_equal(ACTIVATIONS["leaky_relu"].derivative(z, z), [0.01, 0.01, 1])


def test_a_reference_pass_handed_on_gives_what_each_part_computes_on_its_own():
    from gradcheck.numeric.network import numeric_gradient
    from gradcheck.reference.backprop import reference_pass
    from gradcheck.reference.rounding import backprop_rounding, unseen

    spec = load_spec({"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"units": 2, "activation": "softmax"}],
                      "loss": "cross_entropy", "batch": 5, "seed": 2})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    done = reference_pass(spec, params, X, Y)
    C, grads = backprop(spec, params, X, Y)
    assert done.loss == C and all(np.array_equal(done.grads[i][k], grads[i][k]) for i in range(2) for k in grads[i])
    for shared, own in ((backprop_rounding(spec, params, X, Y, done=done), backprop_rounding(spec, params, X, Y)),
                        (numeric_gradient(spec, params, X, Y, done=done).grads,
                         numeric_gradient(spec, params, X, Y).grads)):
        assert all(np.array_equal(shared[i][k], own[i][k]) for i in range(2) for k in own[i])
    assert unseen(spec, params, X, Y, fw=done.fw) is None and "layers=2" in repr(done)


def test_random_signs_draw_what_rng_choice_draws():
    from gradcheck.reference.rounding import random_signs

    a, b = np.random.default_rng([3, 1]), np.random.default_rng([3, 1])
    for shape in ((4, 5), (7,), (2, 3, 2)):
        assert np.array_equal(random_signs(a, shape), b.choice((-1.0, 1.0), size=shape))


@pytest.mark.parametrize("bias", ["separate", "none", "augmented"])
@pytest.mark.parametrize("convention", ["column", "row"])
def test_a_dense_layer_s_backward_of_a_stack_is_the_stack_of_its_backwards(convention, bias):
    spec = make_spec([4, 3], ["tanh"], "mse", convention=convention, bias=bias, batch=6)
    ly = spec.layers[0]
    assert ly.stacks_backward
    params, (X, _) = spec.parameters(), spec.batch_data()
    _, a_in = ly.forward(params[0], X, spec.conv, spec.bias)
    deltas = np.random.default_rng(0).standard_normal((3, *ly.forward(params[0], X, spec.conv, spec.bias)[0].shape))
    grads, da = ly.backward(deltas, a_in, params[0], spec.conv, spec.bias)
    for d in range(3):
        one, da_one = ly.backward(deltas[d], a_in, params[0], spec.conv, spec.bias)
        assert np.allclose(da[d], da_one, rtol=1e-14, atol=0)
        assert all(np.allclose(grads[key][d], one[key], rtol=1e-14, atol=0) for key in one)


@pytest.mark.parametrize("out", [("linear", "mse"), ("softmax", "cross_entropy"), ("sigmoid", "bce")])
def test_the_rounding_allowance_s_draws_in_one_stacked_pass_estimate_what_one_pass_per_draw_does(monkeypatch, out):
    from gradcheck.catalogue.layers.dense import Dense
    from gradcheck.reference import rounding

    spec = make_spec([5, 7, 6], ["tanh", out[0]], out[1], batch=9)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    Y = spec.targets(Y)
    monkeypatch.setattr(rounding, "DRAWS", 600)  # both estimates near their common expectation
    stacked = rounding.backprop_rounding(spec, params, X, Y)
    monkeypatch.setattr(Dense, "stacks_backward", property(lambda self: False))
    looped = rounding.backprop_rounding(spec, params, X, Y)
    for s, lp in zip(stacked, looped):
        for key in lp:
            assert np.allclose(s[key], lp[key], rtol=0.15, atol=0), key
            assert not np.array_equal(s[key], lp[key])  # two different sets of draws: not one path run twice
