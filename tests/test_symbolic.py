"""The SymPy derivation agrees with the reference backprop and reads as the textbook chain rule."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from oracles import BIASES, CONVENTIONS, HIDDEN, OUTPUT_FOR, case, make_spec, random_spec

from gradcheck import check_network, load_spec
from gradcheck.catalogue import LOSSES
from gradcheck.catalogue.activations import SYMPY_NUMPY, sigmoid
from gradcheck.reference.backprop import backprop
from gradcheck.symbolic.derive import (
    SYMBOLIC_LIMIT,
    derive,
    local_fact,
    should_run,
    symbolic_gradient,
)
from gradcheck.symbolic.reach import EXPAND_MAX_DEPTH, EXPAND_MAX_PARAMS, OTHER_LIMIT, limit_of

# Output activation each loss is checked with (the constraints of the loss catalogue).


def assert_agrees(spec, seed=None):
    """Symbolic gradients == backprop's to 1e-12 relative (absolute floor 1e-14 of the array's scale)."""
    params, (X, Y) = spec.parameters(seed), spec.batch_data(seed)
    _, ref = backprop(spec, params, X, Y)
    got = symbolic_gradient(spec, params, X, Y)
    assert len(got) == len(ref)
    for layer, (g, r) in enumerate(zip(got, ref)):
        assert g.keys() == r.keys()
        for kind in r:
            assert g[kind].shape == r[kind].shape and g[kind].dtype == np.float64
            scale = max(np.abs(r[kind]).max(), 1e-300)
            np.testing.assert_allclose(g[kind], r[kind], rtol=1e-12, atol=1e-14 * scale,
                                       err_msg=f"{kind}{layer} of {spec.describe()}")
    assert any(np.abs(r[k]).max() > 0 for r in ref for k in r), "vacuous check: all gradients are zero"


# -- agreement with backprop ------------------------------------------------------------

@pytest.mark.parametrize("bias", BIASES)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("act", HIDDEN)
def test_every_activation_convention_and_bias(act, convention, bias):
    assert_agrees(make_spec([3, 4, 2], [act, act], "mse", convention, bias))


@pytest.mark.parametrize("bias", BIASES)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_loss(loss, convention, bias):
    assert_agrees(make_spec([2, 3, 3], ["tanh", OUTPUT_FOR[loss]], loss, convention, bias, seed=3))


@pytest.mark.parametrize("out", HIDDEN)
@pytest.mark.parametrize("loss", ["mse", "quadratic", "sse"])
def test_every_output_activation_with_squared_losses(loss, out):
    assert_agrees(make_spec([2, 2, 2], ["sigmoid", out], loss, seed=7))


@pytest.mark.parametrize("seed", range(8))
def test_random_small_nets(seed):
    spec = random_spec(np.random.default_rng([seed, 42]), seed)
    assert_agrees(spec)


def test_values_by_name_and_derivation_reuse():
    spec = make_spec([2, 3, 2], ["sigmoid", "softmax"], "cross_entropy", "row", "separate")
    d = derive(spec)
    for seed in (1, 2):  # the compiled function is reused with other numbers
        params, (X, Y) = spec.parameters(seed), spec.batch_data(seed)
        _, ref = backprop(spec, params, X, Y)
        vals = d.values(params, X, Y)
        assert list(vals) == [name for name, *_ in spec.param_names()]
        for name, layer, kind, _ in spec.param_names():
            np.testing.assert_allclose(vals[name], ref[layer][kind], rtol=1e-12, atol=1e-15)


def test_wrong_shapes_are_rejected():
    spec = make_spec([2, 3, 1], ["sigmoid", "sigmoid"])
    params, (X, Y) = spec.parameters(), spec.batch_data()
    params[0]["W"] = params[0]["W"].T
    with pytest.raises(ValueError, match=r"params\[0\]\['W'\]"):
        symbolic_gradient(spec, params, X, Y)
    with pytest.raises(ValueError, match="expected"):
        symbolic_gradient(spec, spec.parameters(), X.T, Y)


# -- the chain-rule form reads as the textbook one ----------------------------------------

def test_output_weight_is_delta_times_a_prev_with_sigmoid_prime():
    d = derive(make_spec([2, 3, 2], ["sigmoid", "sigmoid"], "quadratic"))
    el = d.element("W1", (0, 1))  # column convention: unit 0, input 1
    assert (el.unit, el.input) == (0, 1)
    assert el.chain_rule == d.delta[1][0] * d.a[0][1]
    assert el.local == d.a[0][1]
    s = sigmoid(d.z[1][0])
    assert el.delta_chain == d.deltas[d.delta[1][0]]
    assert el.delta_chain.has(s) and el.delta_chain.has(1 - s)
    assert el.delta_chain.has(d.a[1][0] - d.y[0])  # ∂C/∂a = (a − y)/N from the quadratic loss
    for expr in list(d.deltas.values()) + [e.chain_rule for e in d.elements]:
        assert not expr.has(sp.exp, sp.cosh, sp.sinh)
    hidden = d.deltas[d.delta[0][2]]  # (Σ_i w^1_i2 δ^1_i) σ(z)(1 − σ(z))
    assert hidden.has(d.W[1][0, 2] * d.delta[1][0]) and hidden.has(d.W[1][1, 2] * d.delta[1][1])
    assert hidden.has(1 - sigmoid(d.z[0][2]))
    assert d.element("b0", (2,)).chain_rule == d.delta[0][2]
    assert d.element("W0", (2, 1)).chain_rule == d.delta[0][2] * d.x[1]


def test_row_convention_and_augmented_bias_indices():
    d = derive(make_spec([3, 2], ["tanh"], "sse", "row", "augmented"))
    assert d.W[0].shape == (4, 2)  # (fan_in + 1, units)
    assert d.element("W0", (1, 0)).chain_rule == d.delta[0][0] * d.x[1]  # W[k, j]: input 1 -> unit 0
    bias_weight = d.element("W0", (3, 1))
    assert (bias_weight.unit, bias_weight.input) == (1, 3)
    assert bias_weight.chain_rule == d.delta[0][1] and bias_weight.local == 1
    assert d.deltas[d.delta[0][0]].has(1 - sp.tanh(d.z[0][0]) ** 2)
    assert [e.name for e in d.elements] == ["W0"] * 8


def test_softmax_delta_uses_full_jacobian():
    d = derive(make_spec([2, 3], ["softmax"], "cross_entropy"))
    d0 = d.deltas[d.delta[0][0]]
    assert d0.free_symbols >= {d.a[0][0], d.y[0], d.y[1], d.y[2]}  # every output enters δ_0
    assert not d0.has(sp.Function("softmax"))


def test_printing():
    d = derive(make_spec([12, 2, 1], ["sigmoid", "linear"], "sse"), expand="off")
    w = d.W[0][1, 11]
    assert str(w) == "w0_1,11" and sp.latex(w) == "w^{(0)}_{1,11}"
    assert sp.latex(d.delta[1][0]) == r"\delta^{(1)}_{0}" and sp.latex(d.x[3]) == "x_{3}"
    assert str(d.element("W0", (1, 11)).chain_rule) == "delta0_1*x_11"
    assert r"\frac{\partial C}{\partial w^{(0)}_{1,11}}" in d.element("W0", (1, 11)).latex()
    assert "dC/dw0_1,11 = delta0_1*x_11" in d.text()
    assert "W0[1, 11]" in repr(d.element("W0", (1, 11))) and "elements" in repr(d)


# -- the local fact -----------------------------------------------------------------------

def test_local_fact_is_kronecker_delta_times_x():
    fact = local_fact()
    lhs, rhs = fact
    i, j, k = fact.indices
    assert rhs == sp.KroneckerDelta(i, j) * fact.x[k]
    assert not rhs.has(sp.Piecewise) and not fact.chain_rhs.has(sp.Piecewise, sp.Sum)
    assert fact.chain_rhs == fact.delta[j] * fact.x[k]
    assert isinstance(lhs, sp.Derivative)
    # Independent check on a concrete 3x3 layer: d/dw[j,k] of Σ_t w[i,t] x[t].
    n = fact.z.limits[0][2] + 1
    for iv in range(3):
        z_concrete = fact.z.subs({i: iv, n: 3}).doit()
        for jv in range(3):
            for kv in range(3):
                assert sp.diff(z_concrete, fact.w[jv, kv]) == rhs.subs({i: iv, j: jv, k: kv})
    assert "KroneckerDelta(i, j)*x[k]" in str(fact) and r"\delta_{i j}" in fact.latex()


# -- the expanded form ---------------------------------------------------------------------

EXPAND_CASES = [
    ([2, 3, 2], ["sigmoid", "sigmoid"], "mse", "column", "separate"),
    ([2, 2, 1], ["tanh", "sigmoid"], "bce", "row", "augmented"),
    ([2, 2, 3], ["relu", "softmax"], "cross_entropy", "column", "none"),
    ([2, 2, 2, 1], ["softplus", "leaky_relu", "linear"], "quadratic", "row", "separate"),
]


@pytest.mark.parametrize("sizes, acts, loss, convention, bias", EXPAND_CASES)
def test_expanded_equals_direct_diff_of_expanded_loss(sizes, acts, loss, convention, bias):
    spec = make_spec(sizes, acts, loss, convention, bias)
    d = derive(spec, expand="on")
    assert d.expanded
    # The loss of one sample written out in x, y, w, b from the catalogue, differentiated directly.
    a = d.x
    for ly, p in zip(spec.layers, d.params):
        a = ly.act.symbolic(ly.layer.symbolic_z({"W": p["W"], "b": p.get("b")}, a, spec.conv, spec.bias))
    loss_n = LOSSES[loss].sample_term(a, d.y, d.N, d.K)
    rng = np.random.default_rng(5)
    args = d.x + d.y + [e.symbol for e in d.elements] + [d.N, d.K]
    point = list(rng.normal(size=len(d.x)))
    point += list(np.eye(len(d.y))[1] if loss == "cross_entropy" else rng.uniform(0.1, 0.9, len(d.y)))
    point += [*rng.normal(size=len(d.elements)), 3, len(d.y)]
    chain_steps = list(d.forward.items()) + list(d.deltas.items())
    for el in d.elements:
        assert el.expanded is not None
        assert el.expanded.free_symbols <= set(args)  # only the network's own symbols

    def values(exprs, cse):  # every element's form in one lambdify: the chain rule's steps are printed once
        return sp.lambdify(args, exprs, modules=[SYMPY_NUMPY, "numpy"], cse=cse)(*point)

    direct = values([sp.diff(loss_n, el.symbol) for el in d.elements], False)
    expanded = values([el.expanded for el in d.elements], False)
    chain = values([el.chain_rule for el in d.elements], lambda es: (chain_steps, es))
    assert len(direct) == len(expanded) == len(chain) == len(d.elements) > 0
    for el, want, e, c in zip(d.elements, direct, expanded, chain):
        np.testing.assert_allclose(e, want, rtol=1e-10, atol=1e-14, err_msg=el.name)
        np.testing.assert_allclose(c, want, rtol=1e-10, atol=1e-14, err_msg=el.name)


def test_expanded_only_for_small_nets():
    small = derive(make_spec([2, 3, 2], ["sigmoid", "sigmoid"]))
    assert small.expanded and all(e.expanded is not None for e in small.elements)
    big = derive(make_spec([4, 5, 3], ["sigmoid", "sigmoid"]))
    assert big.spec.n_params > EXPAND_MAX_PARAMS and not big.expanded
    assert all(e.expanded is None for e in big.elements)
    deep = derive(make_spec([1] * (EXPAND_MAX_DEPTH + 2), ["tanh"] * (EXPAND_MAX_DEPTH + 1)))
    assert deep.spec.n_params <= EXPAND_MAX_PARAMS and not deep.expanded
    assert all(e.expanded is None for e in derive(make_spec([2, 2, 1], ["sigmoid"] * 2), expand="off").elements)


def test_deferred_expansion_is_written_on_the_first_ask_and_is_the_same():
    spec = make_spec([2, 3, 2], ["tanh", "sigmoid"])
    later = derive(spec, deferred=True)
    assert later.wanted and all(e.expanded is None for e in later.elements)  # nothing written yet
    assert "expanded=when asked" in repr(later) and all(e.expanded is None for e in later.elements)  # not by a repr
    assert later.expanded and "expanded=yes" in repr(later) and all(e.expanded is not None for e in later.elements)
    now = derive(spec)
    assert [e.expanded for e in later.elements] == [e.expanded for e in now.elements]
    assert later.text(expanded=True) == now.text(expanded=True)
    off = derive(spec, expand="off", deferred=True)
    assert not off.expanded and all(e.expanded is None for e in off.elements)


def test_a_checks_derivation_leaves_its_expanded_forms_to_the_report():
    result = check_network({"input": 2, "layers": [{"units": 2, "activation": "tanh"}, {"units": 1}]}, symbolic="on")
    d = result.derivation
    assert d.wanted and all(e.expanded is None for e in d.elements)
    assert d.expanded and all(e.expanded is not None for e in d.elements)


# -- size decision and scale -----------------------------------------------------------------

def test_should_run_modes():
    small = make_spec([2, 3, 2], ["sigmoid", "sigmoid"])
    large = make_spec([64, 128, 64, 4], ["relu", "relu", "linear"])
    assert large.n_params > SYMBOLIC_LIMIT
    run, reason = should_run(large, "auto")
    assert not run and str(large.n_params) in reason and f"limit {SYMBOLIC_LIMIT}" in reason
    assert reason.startswith("symbolic check skipped") and "\n" not in reason
    assert should_run(small, "auto")[0]
    assert not should_run(small, "off")[0] and not should_run(large, "off")[0]
    assert should_run(large, "on")[0] and should_run(small, "on")[0]
    beyond = f"({large.n_params} parameters > limit {SYMBOLIC_LIMIT})"
    assert should_run(large, "on")[1] == f"symbolic check forced on, beyond auto's reach {beyond}"
    assert should_run(small, "on")[1] == "symbolic check forced on"
    with pytest.raises(ValueError):
        should_run(small, "sometimes")


def test_auto_runs_a_dense_net_up_to_the_limit_and_skips_one_parameter_more():
    at = make_spec([SYMBOLIC_LIMIT - 1, 1], ["linear"], "sse")  # fan_in weights and one bias
    over = make_spec([SYMBOLIC_LIMIT, 1], ["linear"], "sse")
    assert (at.n_params, over.n_params) == (SYMBOLIC_LIMIT, SYMBOLIC_LIMIT + 1)
    run, reason = should_run(at, "auto")
    assert run and f"{SYMBOLIC_LIMIT} parameters <= limit {SYMBOLIC_LIMIT}" in reason
    run, reason = should_run(over, "auto")
    assert not run and f"{SYMBOLIC_LIMIT + 1} parameters > limit {SYMBOLIC_LIMIT}" in reason


def test_auto_keeps_the_lower_limit_for_convolutions_and_sequences():
    conv = load_spec({"input": [16, 4, 4], "loss": "mse", "layers": [
        {"type": "conv2d", "filters": 16, "kernel": 3}, {"type": "flatten"}, {"units": 2}]})
    steps = load_spec({"input": {"steps": 3, "features": 40}, "loss": "mse", "layers": [{"units": 30}]})
    for spec in (conv, steps):
        assert OTHER_LIMIT < spec.n_params < SYMBOLIC_LIMIT and limit_of(spec) == OTHER_LIMIT
        run, reason = should_run(spec, "auto")
        assert not run and f"limit {OTHER_LIMIT}" in reason
    dense = make_spec([40, 30], ["tanh"])
    assert OTHER_LIMIT < dense.n_params < SYMBOLIC_LIMIT and should_run(dense, "auto")[0]


def test_sympy_catches_a_wrong_gradient_on_a_net_of_thousands_of_parameters():
    spec = make_spec([24, 48, 24, 4], ["tanh", "tanh", "softmax"], "cross_entropy", batch=4)
    assert spec.n_params > 2000 and should_run(spec, "auto")[0]
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    got = derive(spec, expand="off").gradients(params, X, Y)
    wrong = [{k: v.copy() for k, v in g.items()} for g in ref]
    wrong[1]["W"][5, 7] *= 1.001
    for layer, (g, r, w) in enumerate(zip(got, ref, wrong)):
        for kind in r:
            np.testing.assert_allclose(g[kind], r[kind], rtol=1e-11, atol=1e-14 * np.abs(r[kind]).max())
            apart = ~np.isclose(g[kind], w[kind], rtol=1e-9, atol=0)
            assert apart.sum() == (1 if (layer, kind) == (1, "W") else 0)  # exactly the changed element

    def wrong_impl(p, X, Y):
        _, g = backprop(spec, p, X, Y)
        g[1]["W"] = g[1]["W"] * 1.001
        return g

    result = check_network(spec, wrong_impl, mode="full")  # symbolic "auto": run at this size
    assert "symbolic" in result.checked and not result.passed
    assert check_network(spec, mode="full").passed


def test_derivation_2_3_2_completes_with_one_element_per_parameter():
    spec = make_spec([2, 3, 2], ["sigmoid", "sigmoid"])
    d = derive(spec)
    assert len(d.elements) == spec.n_params == 17
    names = [(e.name, e.index) for e in d.elements]
    assert names == [(name, idx) for name, _, _, shape in spec.param_names() for idx in np.ndindex(*shape)]


def test_depth_does_not_blow_up():
    deep = make_spec([2] * 9, ["sigmoid"] * 8, "sse", batch=3)
    d = derive(deep)  # 8 layers: the δ recursion stays one product per unit
    assert max(sp.count_ops(e) for e in d.deltas.values()) < 20
    assert_agrees(deep)


def test_auto_divides_its_limit_by_the_costliest_layer_and_a_recurrent_one_by_its_steps():
    from gradcheck.catalogue.layers.base import SYMBOLIC_OTHER_COST

    def rnn(steps):
        return load_spec({"input": {"steps": steps, "features": 4}, "loss": "mse",
                          "layers": [{"type": "rnn", "units": 6}, {"type": "flatten"}, {"units": 2}]})

    short, long = rnn(2), rnn(8)
    assert limit_of(short) == int(SYMBOLIC_LIMIT / (2 * SYMBOLIC_OTHER_COST)) > limit_of(long)
    assert limit_of(long) == int(SYMBOLIC_LIMIT / (8 * SYMBOLIC_OTHER_COST)) < long.n_params
    run, reason = should_run(long, "auto")
    assert not run and f"limit {limit_of(long)}" in reason
    assert should_run(short, "auto")[0] and short.n_params <= limit_of(short)
    dense = make_spec([3, 4, 2], ["tanh", "linear"])
    assert limit_of(dense) == SYMBOLIC_LIMIT and all(ly.symbolic_cost == 1.0 for ly in dense.layers)


def test_sympy_is_not_judged_where_its_float64_rounding_alone_disagrees():
    """A batchnorm under a weight of 3.4e103: SymPy's forms overflow on the way, round the norm in an order of
    their own and are 25% off where the reference backprop and the finite differences agree. They were called
    wrong (a FAIL with no user code); those elements are now not judged, with a note naming them, the others are
    judged as before, and a user's backprop with a slip there still fails. Where nothing overflows, a SymPy value
    that disagrees is judged (``test_symbolic_stable``: a wrong one fails)."""
    net = case("sympy_rounds_a_batchnorm_under_a_weight_of_3e103")
    result = _unjudged_for_sympy(net, "SymPy's form, evaluated in float64 (overflow on the way), disagrees", "W0",
                                 (2, 0), (0, "W"))
    assert set(result.tensor("W5").verdict("symbolic").flat) == {"good"}


def _unjudged_for_sympy(net, why, name, at, where):
    """``net``'s check with SymPy on: it passes, a note saying ``why`` names ``name[at]``, which is not judged for
    SymPy and is good for the reference; a user's backprop 25% off there (``where``: layer, param) fails."""
    result = check_network(net, symbolic="on")
    assert result.passed, str(result)
    assert f"{name}[{', '.join(map(str, at))}]" in next(n for n in result.notes if why in n)
    tensor = result.tensor(name)
    assert tensor.verdict("symbolic")[at] == "unchecked" and tensor.verdict("backprop")[at] == "good"
    spec, (layer, key) = load_spec(net), where

    def slipped(params, X, Y):
        _, grads = backprop(spec, params, X, spec.targets(Y))
        grads[layer][key][at] *= 1.25
        return grads

    assert not check_network(net, slipped, symbolic="on").passed
    return result


def test_sympy_is_not_judged_where_an_ulp_moves_it_beyond_the_tolerance(monkeypatch):
    """An input of 3.6e39 into conv sums that cancel: SymPy's forms, summing in an order of their own, give 1.5
    for gradients of 0 that the reference backprop and the finite differences agree on, and nothing overflows.
    Evaluated again with every param and input moved by an ulp, its values move by as much: those elements are
    not judged, with a note saying why. Where its value is stable under that move, a wrong one still fails."""
    net = case("sympy_sums_an_input_of_4e39_in_its_own_order")
    result = check_network(net, symbolic="on")
    assert result.passed, str(result)
    assert any("its values moving beyond the tolerance when the inputs move by an ulp" in n for n in result.notes)
    assert "unchecked" in set(result.tensor("W0").verdict("symbolic").flat)
    import gradcheck.checks.symbolic as opinion

    monkeypatch.setattr(opinion, "SYMPY_PROBES", 0)  # no measured spread: the exact evaluation alone settles it
    alone = check_network(net, symbolic="on")
    assert alone.passed and any("evaluated to 60 digits" in n for n in alone.notes), str(alone)
    monkeypatch.setattr(opinion, "EXACT_ELEMENTS", 0)  # nor an exact one: every lone disagreement is judged
    assert not check_network(net, symbolic="on").passed


def test_sympy_alone_is_weighed_against_the_differences_as_they_stand_and_the_reference_s_allowance():
    """A conv sum that cancels to rounding: SymPy gives -8.1e-39 for a W5 gradient whose finite difference, estimated
    again at its own steps, is -4.8e-41, and the reference agrees with it only within its rounding allowance. Taken
    before the second estimates and without the allowance, SymPy was not seen to be alone, and failed the check."""
    result = check_network(case("sympy_off_where_the_reference_agrees_with_its_allowance"), symbolic="on")
    assert result.passed, str(result)
    assert any("SymPy's form, evaluated in float64" in n and "W5" in n for n in result.notes), result.notes


def test_sympy_is_not_judged_where_its_float64_value_is_not_its_forms_value(monkeypatch):
    """A batchnorm over values alike to their last digits under an output weight of 7.5e14: SymPy's forms in float64
    give −3e-4 for β's first gradient, stable under an ulp's move, nothing overflowing; the same forms evaluated to
    60 digits from the same numbers give 18,875, and the finite differences and the reference backprop of the
    float64 network agree on 29.5. SymPy's float64 value is not its forms' value: not judged, with a note. Without
    the exact evaluation SymPy failed the check; a wrong form is still wrong, and a user's slip still fails."""
    import gradcheck.checks.symbolic as opinion
    from gradcheck.symbolic.derive import Derivation

    net = case("sympy_float64_is_not_its_forms_value_under_a_weight_of_7e14")
    result = _unjudged_for_sympy(net, "not that of its forms evaluated to 60 digits", "beta1", (0,), (1, "beta"))
    beta = result.tensor("beta1")
    assert abs(beta.values["symbolic"][0] - beta.values["numeric"][0]) > 0.5 * abs(beta.values["numeric"][0])
    beyond = next(n for n in result.notes if "the network is beyond float64 there" in n)
    assert "beta1[0]: 18875.3 exactly, 29.5" in beyond  # the exact gradient, said beside the float64 one
    chains = Derivation._chains

    def wrong_form(self):  # β's second chain rule 10% off: wrong at any precision
        forms = chains(self)
        at = next(k for k, e in enumerate(self.elements) if e.name == "beta1" and e.index == (1,))
        forms[at] = sp.Rational(11, 10) * forms[at]
        return forms

    with monkeypatch.context() as m:
        m.setattr(Derivation, "_chains", wrong_form)
        wrong = check_network(net, symbolic="on")
        assert not wrong.passed and wrong.tensor("beta1").verdict("symbolic")[1] == "wrong", str(wrong)
    def no_exact_value(self, *args, **kwargs):
        raise ValueError("no exact value")

    with monkeypatch.context() as m:  # an exact evaluation that fails leaves SymPy's value judged, not the check dead
        m.setattr(Derivation, "exact", no_exact_value)
        assert not check_network(net, symbolic="on").passed
    monkeypatch.setattr(opinion, "EXACT_ELEMENTS", 0)
    assert not check_network(net, symbolic="on").passed
