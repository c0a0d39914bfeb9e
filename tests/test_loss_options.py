"""The loss's options: svm, integer class labels, "reduction" and "regularization", in every opinion and diagnosis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from oracles import OUTPUT_FOR, assert_grads_close, complex_step, make_spec, network_cost

from gradcheck import check_network, load_spec
from gradcheck.catalogue import LOSSES
from gradcheck.catalogue.losses import REDUCTIONS
from gradcheck.cli import main
from gradcheck.errors import SpecError
from gradcheck.reference.backprop import backprop, cost

ROOT = Path(__file__).resolve().parent.parent
IMPLS = ROOT / "tests" / "impls"
SVM = f"{IMPLS / 'cs231n_svm.py'}"
OPTIONS = f"{IMPLS / 'loss_options.py'}"

LINEAR_SVM = {"input": 3, "layers": [{"units": 4, "activation": "linear"}], "loss": "svm", "convention": "row",
              "regularization": {"l2": 0.05, "form": "sum"}}
X6 = np.random.default_rng(0).normal(size=(6, 3))
LABELS = np.array([0, 1, 2, 3, 0, 1])


def text(result):
    return " ".join(result.diagnosis)


# -- the reference against the definitions (complex step of tests/oracles.py) ------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_loss_and_reduction_against_its_definition(loss, reduction):
    if reduction in LOSSES[loss].refused:
        pytest.skip("refused (see test_bad_options)")
    spec = make_spec([3, 4, 3], ["tanh", OUTPUT_FOR[loss]], loss, "row", "separate", batch=5, seed=2)
    spec = spec.with_(reduction=reduction)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    C, grads = backprop(spec, params, X, Y)
    np.testing.assert_allclose(C, network_cost(spec, params, X, Y), rtol=1e-13)
    assert_grads_close(grads, complex_step(spec, params, X, Y))


@pytest.mark.parametrize("bias", ["separate", "augmented"])
@pytest.mark.parametrize("reg", [{"l2": 0.3, "form": "sum"}, {"l2": 0.3, "form": "half"}, {"l2": 0.3, "form": "half_n"},
                                 {"l1": 0.2}])
def test_every_regularization_against_its_definition(reg, bias):
    spec = make_spec([3, 4, 2], ["tanh", "sigmoid"], "bce", "column", bias, batch=5, seed=3).with_(regularization=reg)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    C, grads = backprop(spec, params, X, Y)
    np.testing.assert_allclose(C, network_cost(spec, params, X, Y), rtol=1e-13)
    assert_grads_close(grads, complex_step(spec, params, X, Y))
    plain = backprop(spec.with_(regularization=None), params, X, Y)[1]
    assert not np.allclose(grads[0]["W"], plain[0]["W"])  # the term is there ...
    if bias == "augmented":  # ... and never on the bias line of an augmented W
        np.testing.assert_array_equal(grads[0]["W"][:, -1], plain[0]["W"][:, -1])
    else:
        np.testing.assert_array_equal(grads[0]["b"], plain[0]["b"])


# -- finite differences, SymPy and the user's backprop ---------------------------------------------------------

def test_a_cs231n_svm_with_l2_and_labels_passes_every_opinion():
    spec = {**LINEAR_SVM, "layers": [{"units": 3, "activation": "linear"}]}
    result = check_network(spec, f"{SVM}:svm", data=(X6[:3], LABELS[:3] % 3), symbolic="on")  # svm() refuses one-hot
    assert result.passed, result.problems
    assert {"symbolic", "impl"} <= set(result.opinions)


@pytest.mark.parametrize("reg", [{"l2": 0.05, "form": "half"}, {"l1": 0.05}])
def test_the_finite_differences_include_the_term(reg):
    # The reference without the term is wrong against the numeric gradient of the spec with it.
    spec = load_spec({**LINEAR_SVM, "regularization": reg})
    plain = spec.with_(regularization=None)
    result = check_network(spec, lambda params, X, Y: backprop(plain, params, X, Y)[1], data=(X6, LABELS),
                           symbolic="off")
    assert not result.passed
    assert {t.name for t in result.tensors if not t.passed} == {"W0"}


#: Networks whose weights take each way of evaluating a perturbed network: per unit (dense on vectors), whole
#: layers stacked (a dense layer applied at every step of a sequence, an embedding's, a relu rnn), and the
#: recurrent layers' own stacks.
REGULARIZED = {
    "dense": {"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"units": 2}]},
    "dense_per_step": {"input": {"steps": 2, "features": 2}, "layers": [{"units": 2, "activation": "tanh"}],
                       "convention": "row"},
    "embedding": {"input": {"steps": 2, "vocab": 4}, "layers": [{"type": "embedding", "dim": 2}, {"units": 2}],
                  "convention": "row"},
    "rnn_relu": {"input": {"steps": 3, "features": 2}, "layers": [{"type": "rnn", "units": 2, "activation": "relu"},
                                                                  {"units": 1}], "convention": "row"},
    "gru": {"input": {"steps": 3, "features": 2}, "layers": [{"type": "gru", "units": 2}, {"units": 1}],
            "convention": "row"},
    "lstm": {"input": {"steps": 3, "features": 2}, "layers": [{"type": "lstm", "units": 2}, {"units": 1}],
             "convention": "row"},
}


@pytest.mark.parametrize("structured", [True, False], ids=["structured", "plain"])
@pytest.mark.parametrize("reg", [{"l2": 0.5, "form": "sum"}, {"l1": 0.3}], ids=["l2", "l1"])
@pytest.mark.parametrize("name", sorted(REGULARIZED))
def test_the_regularisation_term_is_counted_once_by_every_perturbed_network(name, reg, structured):
    """The finite differences of every layer kind, on each way of evaluating its perturbed networks, include the
    term's change once: a dense layer at every step of a sequence once counted it twice (numeric = reference +
    ∂R/∂W) and failed the correct backprop. A backprop that leaves the term out still fails."""
    from gradcheck.numeric.network import numeric_gradient

    spec = load_spec({**REGULARIZED[name], "loss": "mse", "batch": 3, "seed": 5, "regularization": reg})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, exact = backprop(spec, params, X, Y)
    numeric = numeric_gradient(spec, params, X, Y, structured=structured)
    for i, layer in enumerate(exact):
        for key, g in layer.items():
            np.testing.assert_allclose(numeric.grads[i][key], g, rtol=1e-6, atol=1e-9, err_msg=f"{key}{i}")
    plain = spec.with_(regularization=None)
    result = check_network(spec, lambda p, X_, Y_: backprop(plain, p, X_, Y_)[1], symbolic="off")
    assert not result.passed


def test_softmax_cross_entropy_with_labels_is_the_one_hot_check():
    spec = {**LINEAR_SVM, "loss": "cross_entropy", "layers": [{"units": 4, "activation": "softmax"}]}
    by_labels = check_network(spec, f"{SVM}:softmax_ce", data=(X6, LABELS), symbolic="on")
    assert by_labels.passed
    one_hot = check_network(spec, data=(X6, np.eye(4)[LABELS]), symbolic="off")
    assert one_hot.loss == pytest.approx(by_labels.loss, rel=1e-15)


# -- kinks of the loss and of l1 ---------------------------------------------------------------------------

TIE = [{"W": np.zeros((3, 4)), "b": np.array([1.0, 0.0, 0.0, 2.0])}]  # class 0: margins of classes 1, 2 exactly 0


@pytest.mark.parametrize("fn, passes", [("svm", True), ("svm_at_ties_too", True), ("svm_doubled_hinge", False)])
def test_hinge_ties_are_kinks(fn, passes):
    result = check_network(LINEAR_SVM, f"{SVM}:{fn}", data=(X6, np.zeros(6, dtype=int)), params=TIE, symbolic="off")
    assert sum(t.n_kinks for t in result.tensors) > 0
    assert any("the svm hinge where a margin" in note for note in result.notes)
    assert result.passed is passes, text(result)


@pytest.mark.parametrize("at_zero, passes", [(0.0, True), (1.0, True), (2.0, False)])
def test_l1_kinks_at_zero_weights(at_zero, passes):
    spec = load_spec({**LINEAR_SVM, "regularization": {"l1": 0.1}})
    params = spec.parameters()
    params[0]["W"][0, :] = 0.0

    def impl(p, X, Y):  # the reference's gradient with λ·c at W = 0 (c between −1 and 1 is a subgradient)
        _, g = backprop(spec, p, X, Y)
        g[0]["W"] = g[0]["W"] + np.where(p[0]["W"] == 0, 0.1 * at_zero, 0.0)
        return g

    result = check_network(spec, impl, params=params, data=(X6, LABELS + 0), symbolic="off")
    assert result.tensors[0].n_kinks >= 4
    assert result.passed is passes


# -- the diagnosis ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn, said", [
    ("svm_half_form", "your dW has λW: the gradient of ½λΣW², but the spec's form is sum"),
    ("svm_no_reg", "dW lacks the regularisation term 2λW"),
    ("svm_summed", 'your gradients are N=6 times the spec\'s: did you mean "reduction": "sum"?'),
])
def test_cs231n_mistakes_of_the_loss_options(fn, said):
    result = check_network(LINEAR_SVM, f"{SVM}:{fn}", data=(X6, LABELS), symbolic="off")
    assert not result.passed
    assert said in text(result), text(result)


NETWORK2 = {"input": 3, "layers": [{"units": 4, "activation": "sigmoid"}, {"units": 2, "activation": "sigmoid"}],
            "loss": "bce", "reduction": "per_sample", "regularization": {"l2": 0.5, "form": "half_n"}, "batch": 5}


@pytest.mark.parametrize("fn, said", [
    ("network2", None),
    ("network2_decay_without_n", "your dW has λW: the gradient of ½λΣW², but the spec's form is half_n"),
    ("network2_no_decay", "dW lacks the regularisation term (λ/N)W"),
])
def test_nielsen_network2_cross_entropy_with_weight_decay(fn, said):
    result = check_network(NETWORK2, f"{OPTIONS}:{fn}", symbolic="off")
    assert result.passed is (said is None), text(result)
    if said:
        assert said in text(result), text(result)


def test_network2_against_a_mean_over_every_output_is_k_times():
    result = check_network({**NETWORK2, "reduction": "mean"}, f"{OPTIONS}:network2", symbolic="off")
    assert not result.passed
    assert 'did you mean "reduction": "per_sample"?' in text(result), text(result)


def test_a_summed_loss_passes_when_the_spec_says_sum():
    spec = {"input": 3, "layers": [{"units": 4, "activation": "softmax"}], "loss": "cross_entropy",
            "convention": "row"}
    assert check_network({**spec, "reduction": "sum"}, f"{OPTIONS}:summed_softmax", data=(X6, LABELS)).passed
    mean = check_network(spec, f"{OPTIONS}:summed_softmax", data=(X6, LABELS), symbolic="off")
    assert not mean.passed
    assert 'your gradients are N=6 times the spec\'s: did you mean "reduction": "sum"?' in text(mean), text(mean)


def test_an_extra_term_the_spec_does_not_have_is_named():
    spec = {**LINEAR_SVM, "regularization": None}
    result = check_network(spec, f"{SVM}:svm", data=(X6, LABELS), symbolic="off")
    assert not result.passed
    assert '"regularization": {"l2": 0.1, "form": "half"}' in text(result), text(result)
    assert '{"l2": 0.05, "form": "sum"}' in text(result), text(result)


# -- bad input -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("labels, said", [
    ([0, 1, 2, 3, 7, 1], "data.Y[4]: label 7 is not a class of the 4 outputs"),
    ([0, 1, -1, 3, 0, 1], "data.Y[2]: label -1 is not a class of the 4 outputs"),
    ([0, 1.5, 2, 3, 0, 1], "data.Y[1]: label 1.5 is not a class of the 4 outputs"),
    ([0, 1, 2, 3.0, 0, 1], "data.Y[3]: label 3.0 is not a class of the 4 outputs"),
])
def test_bad_labels_name_the_sample(tmp_path, labels, said, capsys):
    path = tmp_path / "net.json"
    path.write_text(json.dumps({**LINEAR_SVM, "data": {"X": X6.tolist(), "Y": labels}}))
    assert main([str(path), "--symbolic", "off"]) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("change, where", [
    ({"layers": [{"units": 4, "activation": "sigmoid"}]}, "layers[0].activation"),
    ({"margin": 0}, "margin"),
    ({"loss": "mse", "margin": 2}, "margin"),
    ({"reduction": "average"}, "reduction"),
    ({"loss": "sse", "layers": [{"units": 4, "activation": "linear"}], "reduction": "per_sample"}, "reduction"),
    ({"regularization": {"l2": 0.1, "l1": 0.1}}, "regularization"),
    ({"regularization": {"l2": -0.1}}, "regularization.l2"),
    ({"regularization": {"l2": 0.1, "form": "halfn"}}, "regularization.form"),
    ({"regularization": {"l1": 0.1, "form": "half"}}, "regularization.form"),
    ({"data": {"X": X6.tolist(), "Y": [[0.5, 0.5, 0, 0]] * 6}}, "data.Y[0]"),
])
def test_bad_options(change, where):
    with pytest.raises(SpecError) as e:
        load_spec({**LINEAR_SVM, **change})
    assert e.value.path == where, str(e.value)


def test_the_options_round_trip_and_are_described():
    spec = load_spec({**NETWORK2, "loss": "bce"})
    assert load_spec(spec.to_dict()) == spec
    assert "loss bce (per_sample) + l2" in spec.describe()


# -- the worked example ---------------------------------------------------------------------------------

EXAMPLE = ROOT / "derivations" / "cs231n_svm_l2.json"


@pytest.mark.parametrize("fn, code, said", [
    ("svm", 0, "PASS: every gradient agrees"),
    ("svm_half_form", 1, "your dW has λW: the gradient of ½λΣW², but the spec's form is sum"),
    ("svm_summed", 1, 'your gradients are N=4 times the spec\'s: did you mean "reduction": "sum"?'),
])
def test_the_cs231n_svm_example_settles_its_questions(fn, code, said, capsys):
    assert main([str(EXAMPLE), "--impl", f"{SVM}:{fn}", "--symbolic", "off"]) == code
    assert said in capsys.readouterr().out


@pytest.mark.parametrize("options", [
    {"reduction": "sum", "regularization": {"l2": 0.3, "form": "half_n"}},
    {"reduction": "per_sample", "regularization": {"l1": 0.2}},
    {"loss": "svm", "margin": 0.5, "regularization": {"l2": 0.3, "form": "half"}, "layers": [
        {"units": 3, "activation": "tanh"}, {"type": "batchnorm"}, {"units": 3, "activation": "linear"}]},
])
def test_sympy_writes_the_options_as_the_reference_computes_them(options):
    from gradcheck.symbolic.derive import symbolic_gradient

    raw = {"input": 2, "layers": [{"units": 3, "activation": "tanh"}, {"units": 2, "activation": "sigmoid"}],
           "loss": "bce", "batch": 4, "seed": 1, "bias": "augmented", **options}
    spec = load_spec(raw)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    assert_grads_close(symbolic_gradient(spec, params, X, Y), backprop(spec, params, X, Y)[1])
    wrong = spec.with_(regularization=None)  # and the term matters
    assert not np.allclose(symbolic_gradient(wrong, params, X, Y)[0]["W"], backprop(spec, params, X, Y)[1][0]["W"])


def test_the_hinge_term_is_plain_sympy_where_asked():
    import sympy as sp

    a, y = sp.symbols("a0:3", real=True), sp.symbols("y0:3", real=True)
    term = LOSSES["svm"].sample_term(list(a), list(y), 2, 3)
    f = sp.lambdify([*a, *y], [term, *(sp.diff(term, ai) for ai in a)], "numpy")  # no gradcheck functions needed
    # scores (1, 2, 0.5), class 0: margins 2 and 0.5 are on; over N = 2
    np.testing.assert_allclose(f(1.0, 2.0, 0.5, 1, 0, 0), [1.25, -1.0, 0.5, 0.5])
    assert f(1.0, 0.0, 0.5, 1, 0, 0)[2] == 0.0  # a tie (margin 0) counts as off, as NumPy's margins > 0
    assert term.rewrite(sp.Max).has(sp.Max)


@pytest.mark.parametrize("loss, reduction", [(loss, r) for loss in sorted(LOSSES) for r in REDUCTIONS
                                              if r not in LOSSES[loss].refused])
def test_a_wrong_backprop_is_diagnosed_under_every_loss_and_reduction(loss, reduction):
    """The diagnosis names other losses a learner may have differentiated: never one that refuses the spec's
    reduction (sse has no per-sample average; asking for its formula once crashed the check of a doubled weight
    gradient under loss quadratic, reduction per_sample)."""
    net = {"input": 3, "layers": [{"units": 3, "activation": "tanh"}, {"units": 2, "activation": OUTPUT_FOR[loss]}],
           "loss": loss, "reduction": reduction, "batch": 4, "seed": 2}
    spec = load_spec(net)

    def scaled(factor, every):
        def impl(params, X, Y):
            _, grads = backprop(spec, params, X, Y)
            return [{k: factor * g if every or i == 0 else g for k, g in layer.items()}
                    for i, layer in enumerate(grads)]
        return impl

    for factor, every in ((2.0, False), (2.0, True), (0.5, True), (-1.0, True)):  # one weight; every gradient
        result = check_network(net, scaled(factor, every), symbolic="off")
        assert not result.passed and result.diagnosis


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_loss_s_error_power_is_how_its_value_grows_with_an_output_error_near_the_target(name):
    # The output layer's bias puts one output an error e from its target (W = 0), and C, computed as a check computes
    # it, grows as e to the loss's error_power: the exponent by which an error below tiny^(1/power) is lost to C. The
    # hinge's error is its margin term a_j − a_y + Δ, with Δ of the errors' size (one of 1 would round them away).
    loss = LOSSES[name]
    units = 1 if loss.output == "sigmoid" else 2
    margin = {"margin": 1e-60} if loss.takes_margin else {}
    spec = load_spec({"input": 1, "layers": [{"units": units, "activation": loss.output or "linear"}],
                      "loss": name, "batch": 1, **margin})
    X, Y = np.ones((1, 1)), np.zeros((units, 1))
    if loss.one_hot:
        Y[0] = 1.0  # the first class is the target, the second holds the error

    def cost_at(e):
        b = {"sigmoid": [np.log(e)], "softmax": [0.0, np.log(e)], "linear": [0.0, e - margin.get("margin", 0.0)],
             None: [0.0, e]}[loss.output]
        return cost(spec, [{"W": np.zeros((units, 1)), "b": np.array(b)}], X, Y)

    assert np.log2(cost_at(2e-60) / cost_at(1e-60)) == pytest.approx(loss.error_power, abs=1e-6)
