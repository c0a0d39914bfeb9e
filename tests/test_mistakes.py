"""The collection of realistic mistakes in tests/impls/: each is named (or, if unknown, only localised)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_network, load_spec
from gradcheck.cli import main
from gradcheck.diagnose.mistake import REGISTRY
from gradcheck.reference.backprop import backprop
from gradcheck.usercode.impl import call_impl

IMPLS = Path(__file__).parent / "impls"
sys.path.insert(0, str(IMPLS))
from collection import CASES, CS231N, NIELSEN, diagnosis_text, verdict  # noqa: E402

sys.path.remove(str(IMPLS))


def run(case):
    return check_network(case.spec, case.target, symbolic="off")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_mistake_gets_its_diagnosis(case):
    result = run(case)
    assert not result.passed
    assert verdict(case, result) == ("named" if case.expect else "localised"), diagnosis_text(result)


def test_the_collection_is_named_correctly_and_no_cause_is_wrong():
    verdicts = [verdict(c, run(c)) for c in CASES]
    known = [v for c, v in zip(CASES, verdicts) if c.expect]
    assert "wrong cause" not in verdicts
    assert known.count("named") / len(known) >= 0.9
    assert len(CASES) >= 40 and {c.style for c in CASES} >= {"nielsen", "cs231n", "augmented", "layers"}


def test_every_registered_mistake_is_made_by_some_impl_in_the_collection():
    named = " ".join(" ".join(c.expect) for c in CASES)
    fragments = {"prime_of_a": "to the activation a instead of to z", "no_prime": "out the activation derivative",
                 "sigma_not_prime": "by the activation σ(z) itself", "softmax_elementwise": "as element-wise",
                 "output_not_input": "with the layer's output a", "dw_transposed": "returns dW transposed",
                 "w_not_transposed": "W not transposed in the backward pass",
                 "prime_formula_on_z": "evaluates the derivative written for a = σ(z) at z",
                 "db_mean": "averages δ over the batch for db", "dw_mean": "divides dW by N once more"}
    for m in (m for m in REGISTRY if m.local):  # the site tweaks; the layer replays: test_diagnose_layers
        assert fragments[m.key] in named, m.key


def test_a_correct_impl_in_each_style_passes():
    for spec, target in [(NIELSEN, "nielsen/adapter.py:backprop"), (NIELSEN, "nielsen/adapter.py:backprop_dicts"),
                         (CS231N, "cs231n_style.py:correct"), (CS231N, "cs231n_style.py:as_tuples")]:
        result = check_network(spec, f"{IMPLS / target}", symbolic="off")
        assert result.passed, (target, str(result))


# -- how people return gradients ----------------------------------------------------------------

def test_nielsens_pair_is_recognised_and_named():
    result = check_network(NIELSEN, f"{IMPLS}/nielsen/adapter.py:backprop", symbolic="off")
    assert result.passed
    assert any("Nielsen's (nabla_b, nabla_w) pair" in n for n in result.notes), result.notes


def test_a_pair_with_shapes_that_do_not_fit_names_the_pattern():
    spec = load_spec({**NIELSEN, "convention": "row"})  # W is (fan_in, units): Nielsen's W does not fit
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    pair = ([g["b"][:, None] for g in ref], [g["W"].T for g in ref[:-1]] + [np.zeros((5, 5))])
    _, problems = call_impl(lambda p, x, y: pair, spec, params, X, Y)
    assert "(nabla_b, nabla_w) pair of Nielsen's backprop" in problems[""], problems


def test_weights_first_pair_is_read_too():
    spec = load_spec(NIELSEN)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    notes = []
    grads, problems = call_impl(lambda p, x, y: ([g["W"] for g in ref], [g["b"] for g in ref]), spec, params, X, Y,
                                notes)
    assert problems == {} and "(nabla_w, nabla_b)" in notes[0]
    np.testing.assert_array_equal(grads[2]["W"], ref[2]["W"])


@pytest.mark.parametrize("target", ["nielsen/adapter.py:reversed_layers", "cs231n_style.py:reversed_order"])
def test_layers_in_reverse_order_are_detected_as_a_whole(target):
    spec = NIELSEN if "nielsen" in target else CS231N
    result = check_network(spec, f"{IMPLS / target}", symbolic="off")
    text = diagnosis_text(result)
    assert "in reverse order (the output layer first)" in text
    assert "shape of δ" not in text and "wrong axis" not in text and "layer order" not in text.replace(
        "in layer order", "")
    assert all(t.opinion_passed("impl") for t in result.tensors)  # compared in layer order, the values are right


def test_reverse_order_with_equal_shapes_is_found_by_value():
    spec = load_spec({"input": 3, "layers": [{"units": 3, "activation": "tanh"}] * 2, "loss": "mse", "batch": 4})
    result = check_network(spec, lambda p, x, y: backprop(spec, p, x, y)[1][::-1], symbolic="off")
    assert "listed in reverse layer order" in diagnosis_text(result)


# -- where user code fails ----------------------------------------------------------------------

def _line_of(path, marker):
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if marker in line)


def test_error_inside_the_users_module_behind_an_adapter_is_reported_there():
    result = check_network(NIELSEN, f"{IMPLS}/nielsen/adapter.py:raises", symbolic="off")
    line = _line_of(IMPLS / "nielsen" / "network.py", "z = np.dot(w, activation) + b")
    assert f"network.py:{line} in backprop" in result.problems[0], result.problems


def test_syntax_error_is_reported_at_its_file_and_line(tmp_path, capsys):
    bad = tmp_path / "broken.py"
    bad.write_text("import numpy as np\n\ndef backprop(params, X, Y):\n    return [g for g in params if]\n")
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps(NIELSEN))
    code = main([str(spec), "--impl", f"{bad}:backprop", "--symbolic", "off"])
    err = capsys.readouterr().err
    assert code == 2 and "SyntaxError" in err and "broken.py:4" in err and "frozen" not in err


def test_the_impls_folder_is_importable_from_anywhere(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "helpers.py").write_text("import numpy as np\n\ndef outer_sum(d, a):\n    return d @ a.T\n")
    (folder / "bp.py").write_text(
        "from helpers import outer_sum\n\n"
        "def backprop(params, X, Y):\n"
        "    from helpers import outer_sum as late  # imported when called, too\n"
        "    return [{'W': late(Y, X), 'b': Y.sum(axis=1)}]\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = {"input": 2, "layers": [{"units": 2, "activation": "linear"}], "loss": "sse", "batch": 3}
    result = check_network(spec, f"{folder / 'bp.py'}:backprop", symbolic="off")
    assert not any("ModuleNotFoundError" in p for p in result.problems), result.problems
    assert str(folder) not in sys.path


def test_sys_exit_in_user_code_is_caught(tmp_path, capsys):
    mod = tmp_path / "quits.py"
    mod.write_text("import sys\n\ndef backprop(params, X, Y):\n    sys.exit(5)\n")
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps(NIELSEN))
    code = main([str(spec), "--impl", f"{mod}:backprop", "--symbolic", "off"])
    out = capsys.readouterr().out
    assert code == 1 and "called sys.exit(5)" in out


def test_a_complex_gradient_is_a_problem_without_a_warning():
    spec = load_spec(NIELSEN)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)

    def complex_impl(p, x, y):
        return [{"W": g["W"] + 0j, "b": g["b"]} for g in ref]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, problems = call_impl(complex_impl, spec, params, X, Y)
    assert "complex-valued" in problems["W0"]


def test_all_zero_gradients_are_said_as_such():
    result = check_network(NIELSEN, f"{IMPLS}/nielsen/adapter.py:zeros", symbolic="off")
    text = diagnosis_text(result)
    assert "every gradient your backprop returned is 0" in text and "constant factor" not in text


# -- labels in the CLI's table -----------------------------------------------------------------

def _table(tmp_path, capsys, fn):
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps({"input": 3, "layers": [{"units": 3, "activation": "sigmoid"},
                                                       {"units": 2, "activation": "sigmoid"}],
                                "loss": "quadratic", "batch": 5}))
    code = main([str(spec), "--impl", f"{IMPLS / 'sigmoid_mlp.py'}:{fn}", "--symbolic", "off"])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("fn", ["returns_none", "raises_column"])
def test_no_gradients_are_not_reported_as_nan_or_a_disagreement(tmp_path, capsys, fn):
    code, out = _table(tmp_path, capsys, fn)
    assert code == 1
    assert "not returned" in out and "NaN/Inf" not in out and "disagree" not in out
    assert "could not be compared" in out


def test_a_nan_is_labelled_nan_not_bad_shape(tmp_path, capsys):
    code, out = _table(tmp_path, capsys, "nan_result_column")
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("W1 "))
    assert "NaN/Inf" in row and "bad shape" not in out


def test_a_mistake_that_equals_a_constant_factor_is_named_with_the_factor_reading():
    # One layer without b: dW divided by N once more is exactly "every element N times too small".
    spec = load_spec({"input": 3, "layers": [{"units": 2, "activation": "sigmoid"}], "loss": "quadratic",
                      "bias": "none", "batch": 5})
    result = check_network(spec, lambda p, x, y: [{"W": backprop(spec, p, x, y)[1][0]["W"] / 5}], symbolic="off")
    text = diagnosis_text(result)
    assert "one of 2 readings" in text and "divides dW by N once more" in text and "N=5 times too small" in text


def test_too_few_numbers_name_no_cause():
    # One weight: any wrong value is "a constant factor", so no cause is named.
    spec = load_spec({"input": 1, "layers": [{"units": 1, "activation": "sigmoid"}], "loss": "bce",
                      "bias": "none", "batch": 4})
    result = check_network(spec, lambda p, x, y: [{"W": 3 * backprop(spec, p, x, y)[1][0]["W"]}], symbolic="off")
    text = " | ".join(result.diagnosis)
    assert not result.passed and "every element" not in text and "known mistake" not in text


def test_a_complex_gradient_leaks_no_warning_from_the_cli(tmp_path):
    import subprocess

    mod = tmp_path / "cplx.py"
    mod.write_text("import numpy as np\nfrom gradcheck.reference.backprop import backprop\n"
                   "from gradcheck import load_spec\n\n"
                   f"SPEC = load_spec({NIELSEN!r})\n\n"
                   "def fn(params, X, Y):\n"
                   "    return [{k: v + 1e-3j for k, v in g.items()} for g in backprop(SPEC, params, X, Y)[1]]\n")
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps(NIELSEN))
    run = subprocess.run([sys.executable, "-m", "gradcheck", str(spec), "--impl", f"{mod}:fn", "--symbolic", "off"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stderr == "", run.stderr
    assert "complex-valued" in run.stdout


@pytest.mark.parametrize(("fn", "which"), [("overwrites", "the last sample"), ("returns_in_loop", "the first sample")])
def test_one_samples_gradient_is_named(fn, which):
    result = check_network(NIELSEN, f"{IMPLS}/nielsen/adapter.py:{fn}", symbolic="off")
    assert f"your gradients are those of {which} alone" in diagnosis_text(result)


def test_a_mistake_registered_from_outside_is_searched_and_named():
    from gradcheck.diagnose.mistake import register
    from gradcheck.diagnose.mistakes import SiteMistake
    from gradcheck.diagnose.network import diagnose

    doubled = register(SiteMistake("db_doubled", "grads", lambda spec, ls: f"db doubled in layer {ls[0]}",
                                   lambda g, n: {**g, "b": 2 * g["b"]},
                                   lambda spec, ly: "b" in spec.param_shapes()[ly.index]))
    try:
        spec = load_spec(NIELSEN)
        params, (X, Y) = spec.parameters(), spec.batch_data()
        _, ref = backprop(spec, params, X, Y)
        user = [dict(g) for g in ref]
        user[1]["b"] = 2 * ref[1]["b"]
        assert diagnose(spec, params, X, Y, user, ref, {"b1"}) == ["matches a known mistake: db doubled in layer 1"]
        assert diagnose(spec, params, X, Y, ref, ref, {"b1"}) == []  # the right gradients name nothing
    finally:
        REGISTRY.remove(doubled)
