"""Deliberately wrong user backprops (tests/impls/) are caught, and the mistake or element is named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gradcheck import ImplError, check_network, load_spec
from gradcheck.cli import main
from gradcheck.diagnose.network import shape_hint
from gradcheck.reference.backprop import backprop
from gradcheck.usercode.impl import call_impl, load_impl

IMPLS = Path(__file__).parent / "impls"
MLP = IMPLS / "sigmoid_mlp.py"
DERIVATIONS = Path(__file__).parent.parent / "derivations"


def mlp(convention, sizes=(3, 3, 2), loss="quadratic", batch=5, seed=0):
    """All-sigmoid network for tests/impls/sigmoid_mlp.py: W0 square (3x3), W1 (2x3) / (3x2)."""
    return {"input": sizes[0], "layers": [{"units": u, "activation": "sigmoid"} for u in sizes[1:]],
            "loss": loss, "convention": convention, "batch": batch, "seed": seed}


def check(fn, convention=None, **kw):
    convention = convention or ("row" if fn.endswith("_row") else "column")
    return check_network(mlp(convention, **kw), f"{MLP}:{fn}", symbolic="off")


def one_line(result):
    return " | ".join(result.problems + result.diagnosis)


def run_cli(args, capsys):
    code = main([*map(str, args), "--symbolic", "off"])
    out, err = capsys.readouterr()
    return code, out, err


# -- correct implementations --------------------------------------------------------------

@pytest.mark.parametrize("fn", ["good_column", "good_row", "good_tuples_row"])
def test_correct_impl_passes(fn):
    result = check(fn)
    assert result.passed, str(result)
    assert result.checked == ("backprop", "impl") and not result.problems and not result.diagnosis
    assert all(t.opinion_passed("impl") for t in result.tensors)


def test_correct_impl_with_a_different_seed_and_batch():
    result = check("good_row", batch=9, seed=4)
    assert result.passed


def test_correct_impl_exit_0_from_the_cli(tmp_path, capsys):
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps(mlp("column")))
    code, out, err = run_cli([spec, "--impl", f"{MLP}:good_column"], capsys)
    assert code == 0 and err == ""
    assert "impl rel err" in out and "PASS" in out


def test_impl_may_not_change_what_gradcheck_uses(tmp_path):
    # The function gets copies: scribbling over params, X and Y changes nothing.
    from gradcheck.reference.backprop import backprop as ref_backprop

    spec = load_spec(mlp("column"))

    def vandal(params, X, Y):
        _, grads = ref_backprop(spec, params, X, Y)
        for p in params:
            p["W"][...] = 0.0
        X[...] = 0.0
        Y[...] = 0.0
        return grads

    result = check_network(spec, vandal, symbolic="off")
    assert result.passed
    assert np.abs(result.params[0]["W"]).min() > 0 and np.abs(result.X).min() > 0


# -- wrong values: the known mistake is named ------------------------------------------------

@pytest.mark.parametrize(("fn", "layer"), [("prime_of_a_output_column", 1), ("prime_of_a_hidden_row", 0)])
def test_sigma_prime_of_a_is_named(fn, layer):
    result = check(fn)
    assert not result.passed
    assert f"layer {layer} applies sigmoid' to the activation a instead of to z" in one_line(result)


def test_sigma_prime_of_a_in_every_layer_is_named():
    # The usual way to make this mistake: one sigmoid_prime(a) helper used in every layer.
    result = check("prime_of_a_everywhere_column")
    assert not result.passed
    assert "instead of to z" in one_line(result), one_line(result)


@pytest.mark.parametrize(("fn", "layer"), [("no_prime_output_row", 1), ("no_prime_hidden_column", 0)])
def test_missing_sigma_prime_is_named(fn, layer):
    result = check(fn)
    assert not result.passed
    assert f"layer {layer} leaves out the activation derivative" in one_line(result)


@pytest.mark.parametrize("fn", ["sum_not_mean_row", "sum_not_mean_column"])
def test_sum_instead_of_mean_quadratic(fn):
    # With the quadratic cost the summed gradient is exactly the sse loss's gradient.
    result = check(fn)
    assert not result.passed
    text = one_line(result)
    assert "you differentiated the sse loss" in text and "the spec's loss is quadratic" in text, text


def test_sum_instead_of_mean_names_the_factor_n():
    result = check("sum_not_mean_mse_column", loss="mse", sizes=(3, 3, 3))
    assert not result.passed
    assert "N=5 times too large" in one_line(result), one_line(result)
    assert check("good_mse_column", loss="mse", sizes=(3, 3, 3)).passed


def test_the_factor_n_is_the_batch_actually_checked():
    # data= overrides the spec's batch of 5 with 7 samples; the diagnosis must speak of those 7.
    spec = load_spec(mlp("column", sizes=(3, 3, 3), loss="mse"))
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(3, 7)), rng.uniform(0.1, 0.9, size=(3, 7))
    result = check_network(spec, f"{MLP}:sum_not_mean_mse_column", data=(X, Y), symbolic="off")
    assert not result.passed
    assert "N=7" in one_line(result), one_line(result)


def test_sign_flipped_is_named():
    result = check("sign_flipped_column")
    assert "sign is flipped" in one_line(result)
    # Every element is wrong, with relative error 2.
    assert all(r.verdict == "wrong" for r in result.blame(n=0, opinion="impl") if abs(r.numeric) > 1e-7)


def test_learning_rate_folded_in_is_named_as_a_constant_factor():
    result = check("learning_rate_row")
    text = one_line(result)
    assert "0.03" in text and "constant factor" in text and "learning-rate" in text


def test_one_wrong_element_is_first_in_the_blame_table():
    result = check("one_element_wrong_column")
    assert not result.passed
    blame = result.blame(n=0, opinion="impl")
    assert blame[0].element == "W1[0, 1]" and blame[0].verdict == "wrong"
    assert blame[0].analytic == pytest.approx(1.1 * blame[0].numeric, rel=1e-6)
    assert all(r.verdict == "good" for r in blame[1:])
    assert [t.name for t in result.tensors if not t.passed] == ["W1"]
    assert "layer 1" in one_line(result) and "dW" in one_line(result)


@pytest.mark.parametrize("fn", ["outputs_not_inputs_column", "outputs_not_inputs_row"])
def test_output_instead_of_input_is_named(fn):
    result = check(fn)
    assert "layer 0 pairs δ with the layer's output a instead of its input" in one_line(result)


def test_transposed_square_dw_is_named():
    result = check("transposed_dw_square_row")
    assert "layer 0 returns dW transposed" in one_line(result)


def test_sigma_where_sigma_prime_belongs_is_named():
    # σ(z) where σ'(z) belongs in the hidden layer (the OR-gate question's typo).
    result = check("sigma_not_prime_hidden_column")
    assert not result.passed
    assert result.tensor("W1").passed and result.tensor("b1").passed
    assert "layer 0 multiplies by the activation σ(z) itself where its derivative σ'(z) belongs" in one_line(result)


def test_an_unrecognised_hidden_layer_mistake_is_localised():
    # σ'(z)² in the hidden layer is no known mistake: gradcheck says where the error starts, no cause.
    result = check("prime_squared_hidden_column")
    assert not result.passed
    assert result.tensor("W1").passed and result.tensor("b1").passed
    text = one_line(result)
    assert "layer 0 is wrong" in text and "da_prev = W.T @ delta" in text
    assert "known mistake" not in text


# -- wrong shapes: the problem line explains ------------------------------------------------

def test_delta_returned_as_dw_the_2x1_gradient():
    result = check("delta_as_dw_column")
    assert not result.passed
    problem = result.tensor("W0").problem
    assert problem.startswith("W0: your dW has shape (3, 1), expected (3, 3)")
    assert "outer product" in problem and "dW = delta @ a_prev.T : (3,N) @ (N,3) -> (3,3)" in problem
    assert result.tensor("b0").passed and result.tensor("W1").passed


def test_transposed_dw_is_named():
    problem = check("transposed_dw_column").tensor("W1").problem
    assert "shape (3, 2), expected (2, 3)" in problem and "transposed" in problem


def test_db_not_summed_over_the_batch():
    problem = check("db_not_summed_row").tensor("b0").problem
    assert "shape (5, 3), expected (3,)" in problem and "not summed over the 5 samples" in problem
    assert "db = delta.sum(axis=0)" in problem


def test_db_as_a_column_matrix():
    problem = check("db_column_matrix_column").tensor("b0").problem
    assert "(3, 1)" in problem and "flat vector of shape (3,)" in problem


@pytest.mark.parametrize(("convention", "got", "fragment"), [
    ("column", (3, 2), "transposed"),
    ("row", (2, 3), "transposed"),
    ("column", (2, 1), "shape of δ"),
    ("column", (3,), "shape of the layer's input a_prev"),
    ("column", (2, 5), "whole batch"),
    ("row", (5, 3), "whole batch"),
])
def test_shape_hints(convention, got, fragment):
    # Layer 1 of a 3-3-2 net: units 2, fan_in 3; N = 5.
    spec = load_spec(mlp(convention))
    expected = spec.param_shapes()[1]["W"]
    hint = shape_hint(spec, 1, "W", got, expected)
    assert fragment in hint, hint
    assert "dW = " in hint


def test_gradients_in_the_wrong_layer_order_hint():
    spec = load_spec(mlp("column", sizes=(4, 3, 2)))
    hint = shape_hint(spec, 0, "W", (2, 3), (3, 4))
    assert "layer 1's W" in hint and "layer order" in hint


def test_kron_of_outputs_hint_when_n_equals_units():
    # Seed 002's data with N = 2 samples and 2 output units: the (2, 2) kron(outputs.T, delta) is also
    # the shape of a batch of δ; the hint must still point at the output/input mix-up.
    raw = json.loads((DERIVATIONS / "augmented_single_layer.json").read_text())
    raw["data"] = {"X": raw["data"]["X"][:2], "Y": raw["data"]["Y"][:2]}
    result = check_network(raw, f"{IMPLS / 'seed002.py'}:kron_outputs_t_delta", symbolic="off")
    problem = result.tensor("W0").problem
    assert "(2, 2)" in problem and "(4, 2)" in problem
    assert "*output*" in problem and "[i=j]" in problem, problem


# -- broken results ---------------------------------------------------------------------------

def test_wrong_number_of_entries():
    result = check("too_few_entries_column")
    assert not result.passed
    assert any("returned 1 entry; expected 2" in p for p in result.problems)


def test_missing_b():
    result = check("missing_b_column")
    assert result.tensor("b0").problem == "b0: missing (expected db of shape (3,))"
    assert result.tensor("W0").passed and not result.passed


def test_nan_in_the_result():
    result = check("nan_result_column")
    assert not result.passed
    problem = result.tensor("W1").problem
    assert "NaN/Inf" in problem and "first at [0, 1]" in problem and "1 of 6" in problem
    worst = result.blame(n=1, opinion="impl")[0]
    assert worst.element == "W1[0, 1]" and worst.verdict == "wrong"


def test_returns_none():
    result = check("returns_none")
    assert not result.passed and "returned NoneType" in result.problems[0]


def _line_of(path, marker):
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if marker in line)


def test_exception_inside_the_impl_names_the_users_file_and_line(tmp_path, capsys):
    result = check("raises_column")
    assert not result.passed
    line = _line_of(MLP, "# RAISES HERE")
    assert any(f"sigmoid_mlp.py:{line}" in p and "ValueError" in p for p in result.problems), result.problems
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps(mlp("column")))
    code, out, err = run_cli([spec, "--impl", f"{MLP}:raises_column"], capsys)
    assert code == 1
    assert f"sigmoid_mlp.py:{line}" in out and "Traceback" not in out + err


# -- impls that cannot be loaded: exit 2, one line --------------------------------------------

def _bad_impl_cli(tmp_path, capsys, target):
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps(mlp("column")))
    code, out, err = run_cli([spec, "--impl", target], capsys)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradcheck: ") and "Traceback" not in err
    return lines[0]


def test_missing_impl_file(tmp_path, capsys):
    line = _bad_impl_cli(tmp_path, capsys, f"{tmp_path / 'nope.py'}:backprop")
    assert "no such file" in line


def test_missing_function_suggests(tmp_path, capsys):
    line = _bad_impl_cli(tmp_path, capsys, f"{MLP}:good_colum")
    assert "has no function 'good_colum'" in line and "did you mean 'good_column'" in line


def test_impl_import_error(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy as np\nimport no_such_module_for_gradcheck_tests\n")
    line = _bad_impl_cli(tmp_path, capsys, f"{broken}:backprop")
    assert "ModuleNotFoundError" in line and "broken.py:2" in line


def test_impl_raising_at_import(tmp_path, capsys):
    broken = tmp_path / "zero.py"
    broken.write_text("x = 1\ny = x / 0\n")
    line = _bad_impl_cli(tmp_path, capsys, f"{broken}:backprop")
    assert "ZeroDivisionError" in line and "zero.py:2" in line


def test_impl_module_not_found(tmp_path, capsys):
    line = _bad_impl_cli(tmp_path, capsys, "no_such_module_for_gradcheck_tests:backprop")
    assert "no module named" in line


@pytest.mark.parametrize("target", ["no_colon", ":fn", "module:"])
def test_impl_target_syntax(target):
    with pytest.raises(ImplError, match="module:function"):
        load_impl(target)


def test_impl_not_callable(tmp_path):
    mod = tmp_path / "consts.py"
    mod.write_text("backprop = 3\n")
    with pytest.raises(ImplError, match="not a function"):
        load_impl(f"{mod}:backprop")


def test_call_impl_accepts_dicts_tuples_and_dw_db_keys():
    spec = load_spec(mlp("column"))
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    for shape in (lambda g: g, lambda g: [(d["W"], d["b"]) for d in g],
                  lambda g: [{"dW": d["W"], "db": d["b"]} for d in g]):
        grads, problems = call_impl(lambda p, x, y, shape=shape: shape(ref), spec, params, X, Y)
        assert problems == {}
        for g, r in zip(grads, ref):
            np.testing.assert_array_equal(g["W"], r["W"])
            np.testing.assert_array_equal(g["b"], r["b"])


def test_unexpected_b_with_bias_none():
    spec = load_spec({**mlp("column"), "bias": "none"})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    _, problems = call_impl(lambda p, x, y: [{**g, "b": np.zeros(3)} for g in ref], spec, params, X, Y)
    assert "b0" in problems and "has no separate b" in problems["b0"]
