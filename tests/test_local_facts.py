"""The local facts SymPy derives for convolution and pooling hold for concrete sizes and numbers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy as sp

from gradcheck.catalogue.layers.dense import Dense
from gradcheck.catalogue.layers.pool import AvgPool2d, MaxPool2d
from gradcheck.spec.parse import load_spec
from gradcheck.symbolic.local_facts import conv_fact, local_fact, pool_fact


def test_dense_fact_still_reads_kronecker_delta_times_x():
    fact = local_fact()
    i, j, k = fact.indices
    assert fact.rhs == sp.KroneckerDelta(i, j) * fact.x[k]


def test_conv_fact_is_the_filter_bracket_times_the_shifted_input():
    fact = conv_fact()
    n = fact.indices
    f, g, d, r, s, i, j, S, P = (n[k] for k in "f g d r s i j S P".split())
    assert fact.dz_dw == sp.KroneckerDelta(f, g) * fact.x[d, i * S + r - P, j * S + s - P]
    assert fact.dz_db == sp.KroneckerDelta(f, g)
    assert not fact.dz_dw.has(sp.Piecewise) and not fact.chain_rhs.has(sp.Piecewise, sp.KroneckerDelta)
    # The chain rule keeps only the filter g: a sum over the output positions of δ_g times the input.
    assert fact.chain_rhs == sp.Sum(fact.delta[g, i, j] * fact.x[d, i * S + r - P, j * S + s - P],
                                (i, 0, n["H'"] - 1), (j, 0, n["W'"] - 1))
    # dx reads the kernel at u − i·S + P: the rotated kernel.
    u, v = n["u"], n["v"]
    assert fact.dz_dx == fact.W[f, d, u - i * S + P, v - j * S + P]
    assert "KroneckerDelta(f, g)" in str(fact)


@pytest.mark.parametrize("stride,pad", [(1, 0), (2, 1), (1, 2)])
def test_conv_fact_agrees_with_the_concrete_sum(stride, pad):
    """Write out the sum for one small layer, differentiate each output by each weight, compare with the fact."""
    fact = conv_fact()
    n = fact.indices
    (x_read,) = fact.dz_dw.atoms(sp.Indexed)  # x[d, i·S + r − P, j·S + s − P]
    where = sp.lambdify([n[k] for k in "d r s i j S P".split()], x_read.indices)
    C, kh, kw, H = 2, 2, 3, 5
    Wsym = {(c, p, q): sp.Symbol(f"W{c}{p}{q}") for c in range(C) for p in range(kh) for q in range(kw)}
    xs = {(c, y, z): sp.Symbol(f"x{c}_{y}_{z}") for c in range(C) for y in range(H) for z in range(H)}
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (H + 2 * pad - kw) // stride + 1
    for i, j in itertools.product(range(Ho), range(Wo)):
        z = sum(w * xs.get((c, i * stride + p - pad, j * stride + q - pad), 0) for (c, p, q), w in Wsym.items())
        for (c, p, q), w in Wsym.items():
            assert sp.diff(z, w) == xs.get(tuple(where(c, p, q, i, j, stride, pad)), 0)  # zero padding


def test_conv_dx_fact_is_a_correlation_with_the_rotated_kernel():
    """Σ over outputs of δ·∂z/∂x from the fact equals a NumPy full correlation with W[:, :, ::-1, ::-1]."""
    fact = conv_fact()
    n = fact.indices
    rng = np.random.default_rng(0)
    C, F, k, H, S, P = 2, 3, 3, 5, 1, 1
    W = rng.normal(size=(F, C, k, k))
    Ho = (H + 2 * P - k) // S + 1
    delta = rng.normal(size=(F, Ho, Ho))
    fn = sp.lambdify([n["f"], n["d"], n["i"], n["j"], n["u"], n["v"], n["S"], n["P"], n["kh"], n["kw"]],
                     sp.Tuple(fact.dz_dx_guard, *fact.dz_dx.indices))
    dx = np.zeros((C, H, H))
    for f, d, i, j, u, v in itertools.product(range(F), range(C), range(Ho), range(Ho), range(H), range(H)):
        inside, _, dd, p, q = fn(f, d, i, j, u, v, S, P, k, k)
        if inside:
            dx[d, u, v] += delta[f, i, j] * W[f, dd, p, q]
    # the same thing as a correlation of the zero-padded δ with the kernel rotated by 180°
    pad = np.pad(delta, ((0, 0), (k - 1 - P, k - 1 - P), (k - 1 - P, k - 1 - P)))
    rot = W[:, :, ::-1, ::-1]
    want = np.array([[[np.sum(pad[:, u:u + k, v:v + k] * rot[:, d]) for v in range(H)] for u in range(H)]
                     for d in range(C)])
    np.testing.assert_allclose(dx, want, rtol=1e-12)


def test_max_pool_sends_the_gradient_to_the_window_maximum():
    fact = pool_fact(MaxPool2d, 2)
    assert fact.routed_at([0.3, -1.0, 2.5, 0.0]) == [0, 0, 1, 0]
    assert fact.routed_at([4.0, 1.0, 2.5, 0.0]) == [1, 0, 0, 0]
    assert all(g.has(sp.Heaviside) for g in fact.grads)
    assert "Heaviside" in str(fact)


def test_avg_pool_divides_the_gradient_by_the_window_size():
    fact = pool_fact(AvgPool2d, (2, 3))
    assert fact.grads == [sp.Rational(1, 6)] * 6
    assert fact.routed_at([1, 2, 3, 4, 5, 6]) == [sp.Rational(1, 6)] * 6


def test_pool_fact_rejects_a_kind_without_a_window_form():
    with pytest.raises(TypeError, match=r"not a pooling kind.*window_form"):
        pool_fact(Dense, 2)


@pytest.mark.parametrize("kind", [MaxPool2d, AvgPool2d])
def test_each_pool_kinds_fact_routes_the_gradient_as_its_backward_pass_does(kind):
    # The report's fact is derived from the kind's own window form: it must send a window's gradient where the
    # kind's NumPy backward pass sends it (one 3×3 window, a single output).
    spec = load_spec({"input": [1, 3, 3], "loss": "sse", "batch": 1,
                      "layers": [{"type": kind.kind, "size": 3}, {"type": "flatten"}]})
    layer = spec.layers[0]
    x = np.random.default_rng(3).normal(size=(1, 1, 3, 3))
    z, cache = layer.forward({}, x, spec.conv, spec.bias)
    _, dx = layer.backward(np.ones_like(z), cache, {}, spec.conv, spec.bias)
    routed = pool_fact(kind, 3).routed_at([float(v) for v in x.ravel()])
    assert pool_fact(layer, 3).z == pool_fact(kind, 3).z
    np.testing.assert_allclose([float(r) for r in routed], dx.ravel(), rtol=1e-15)
