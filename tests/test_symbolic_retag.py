"""A batch written out once and renamed per sample is the batch SymPy builds sample by sample."""

import numpy as np
import pytest
import sympy as sp

from gradcheck.catalogue.losses import loss_of
from gradcheck.checks.network import check_network
from gradcheck.reference.backprop import backprop, fused_loss
from gradcheck.spec.parse import load_spec
from gradcheck.symbolic import network as symbolic_network
from gradcheck.symbolic.derive import derive
from gradcheck.symbolic.retag import Retag
from gradcheck.symbolic.symbols import sym

NETS = {
    "batchnorm_relu_softmax": {"input": 4, "batch": 6, "loss": "cross_entropy", "seed": 1, "layers": [
        {"units": 5}, {"type": "batchnorm"}, {"type": "activation", "activation": "relu"},
        {"units": 3, "activation": "softmax"}]},
    "batchnorm_unbiased_sigmoid_bce": {"input": 3, "batch": 12, "loss": "bce", "seed": 2, "layers": [
        {"units": 4, "activation": "tanh"}, {"type": "batchnorm", "variance": "unbiased"},
        {"units": 1, "activation": "sigmoid"}]},
    "batchnorm_layernorm_dropout_mse": {"input": 3, "batch": 11, "loss": "mse", "seed": 3, "layers": [
        {"units": 4, "activation": "elu"}, {"type": "batchnorm"}, {"type": "layernorm"},
        {"type": "dropout", "p": 0.5}, {"units": 2}]},
    "conv_batchnorm": {"input": [1, 4, 4], "batch": 3, "loss": "cross_entropy", "seed": 4, "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 3, "activation": "tanh"}, {"type": "batchnorm"},
        {"type": "flatten"}, {"units": 2, "activation": "softmax"}]},
    "residual_add_after_batchnorm": {"input": 3, "batch": 7, "loss": "cross_entropy", "seed": 2, "layers": [
        {"units": 4, "activation": "relu", "name": "h"}, {"units": 4, "name": "g"}, {"type": "batchnorm", "name": "bn"},
        {"type": "add", "inputs": ["h", "bn"]}, {"units": 3, "activation": "softmax"}]},
    "l2_and_dropout": {"input": 2, "batch": 5, "loss": "mse", "seed": 3, "regularization": {"l2": 0.1}, "layers": [
        {"units": 3, "activation": "sigmoid"}, {"type": "batchnorm"}, {"type": "dropout", "p": 0.3}, {"units": 2}]},
    "row_convention_augmented": {"input": 2, "batch": 10, "loss": "mse", "seed": 5, "convention": "row",
                                 "bias": "augmented", "layers": [
        {"units": 3, "activation": "sigmoid"}, {"type": "batchnorm"}, {"units": 2, "activation": "tanh"}]},
}


def _written(spec, renames, monkeypatch):
    monkeypatch.setattr(symbolic_network.Network, "renames", renames)
    loss = loss_of(spec)
    return symbolic_network.write_network(spec, loss.sample_term, spec.n_samples,
                                          loss.sample_term_from_z if fused_loss(spec) else None)


def _same(a, b):
    """Equal dicts in the same order, each value the same expression (arguments in the same order)."""
    assert list(a) == list(b)
    for key in a:
        assert sp.sympify(a[key]) == sp.sympify(b[key]), key


@pytest.mark.parametrize("name", sorted(NETS))
def test_renamed_samples_are_the_expressions_written_sample_by_sample(name, monkeypatch):
    spec = load_spec(NETS[name])
    renamed, direct = _written(spec, True, monkeypatch), _written(spec, False, monkeypatch)
    assert renamed.retag is not None and direct.retag is None
    for part in ("forward", "deltas", "da", "fused"):
        _same(getattr(renamed, part), getattr(direct, part))
    assert renamed.loss == direct.loss
    assert renamed.z_exprs == direct.z_exprs
    for mine, theirs in zip(renamed.inter, direct.inter):
        _same(mine, theirs)
    for j in direct.carried:
        assert renamed.carried[j] == direct.carried[j]


@pytest.mark.parametrize("name", sorted(NETS))
def test_every_element_s_chain_rule_is_the_one_written_sample_by_sample(name, monkeypatch):
    spec = load_spec(NETS[name])
    monkeypatch.setattr(symbolic_network.Network, "renames", True)
    renamed = derive(spec, expand="off")
    monkeypatch.setattr(symbolic_network.Network, "renames", False)
    direct = derive(spec, expand="off")
    assert renamed.net.retag is not None and direct.net.retag is None
    assert [(e.name, e.index) for e in renamed.elements] == [(e.name, e.index) for e in direct.elements]
    for mine, theirs in zip(renamed.elements, direct.elements):
        assert mine.chain_rule == theirs.chain_rule, (mine.name, mine.index)
        assert mine.local == theirs.local and mine.delta_chain == theirs.delta_chain


@pytest.mark.parametrize("name", sorted(NETS))
def test_the_renamed_derivation_gives_backprop_s_gradients(name):
    spec = load_spec(NETS[name])
    params, (X, Y) = spec.parameters(), spec.batch_data()
    got = derive(spec, expand="off").gradients(params, X, spec.targets(Y))
    _, want = backprop(spec, params, X, spec.targets(Y))
    for g, w in zip(got, want):
        for key in w:
            np.testing.assert_allclose(g[key], w[key], rtol=1e-9, atol=1e-12)


def test_a_wrong_gradient_of_a_batchnorm_net_is_caught_with_sympy_on():
    spec = load_spec(NETS["batchnorm_relu_softmax"])

    def wrong(params, X, Y):
        _, grads = backprop(spec, params, X, spec.targets(Y))
        grads[0]["W"] = grads[0]["W"] * 1.01
        return grads

    r = check_network(spec, wrong, symbolic="on")
    assert not r.passed and "symbolic" in r.checked
    w0 = r.tensor("W0")
    assert w0.opinion_passed("symbolic") and w0.opinion_passed("backprop") and not w0.opinion_passed("impl")


def test_a_symbol_not_registered_is_left_as_it_is():
    r = Retag(3)
    x0, x2, w = sym("x", None, 0, 1), sym("x", None, 2, 1), sym("w", 0, 1, 1)
    r.pair(2, x0, x2)
    assert r.rename(w * x0 + x0 ** 2, 2) == w * x2 + x2 ** 2
    assert r.rename(w * x0, 1) == w * x0  # sample 1 has no pairs
    assert r.rename(w * x0, 0) == w * x0


def test_a_term_summed_over_samples_is_sympy_s_sum_of_its_copies():
    from gradcheck.catalogue.sympy_forms import relu

    samples = 23  # 2, 20, 21, 22 and 3: names order the samples otherwise than their numbers
    r = Retag(samples)
    x = [[sym("x", None, n, k) for k in range(2)] for n in range(samples)]
    d = [sym("delta", 1, n, 0) for n in range(samples)]
    mu = sym("mu", 1, 0)  # shared by every sample: not renamed
    r.register(x[0] + d[:1], [x[n] + d[n:n + 1] for n in range(samples)])
    w = sym("w", 0, 0, 1)
    for term in (w * x[0][1], 3 * d[0] * x[0][0], (x[0][0] - mu) ** 2 / 7, d[0] * relu(x[0][1]) * w,
                 mu * x[0][0] ** 2 + 0 * w):
        assert r.summed(term) == sp.Add(*[r.rename(term, n) for n in range(samples)]), term
    assert r.summed(w * mu) is None  # nothing to rename
    assert r.summed(x[0][0] + w) is None  # a sum
