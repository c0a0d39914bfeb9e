"""The attention kind: forward against a plain loop, backward against finite differences, its known mistakes named,
bad input refused in one line, stacks of perturbed networks, and a user's backprop end to end."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from oracles import assert_one_mistake_named

from gradcheck import check_network, load_spec
from gradcheck.catalogue import CONVENTIONS
from gradcheck.catalogue.bias import SEPARATE
from gradcheck.cli import main
from gradcheck.reference.backprop import backprop
from gradcheck.strategies import attention_networks

IMPLS = Path(__file__).parent / "impls"
NETS = IMPLS / "attention_nets.py"
sys.path.insert(0, str(IMPLS))
from attention_nets import SPECS  # noqa: E402


def _spec(conv="row", causal=False, heads=2, steps=3, width=4, tail=True, **extra):
    layers = [{"type": "attention", "heads": heads, "causal": causal}]
    if tail:
        layers += [{"type": "flatten"}, {"type": "dense", "units": 2, "activation": "softmax"}]
    return {"input": {"steps": steps, "features": width}, "layers": layers, "convention": conv, "batch": 3,
            "loss": "cross_entropy" if tail else "mse", **extra}


def _loop(ly, p, x, conv):
    """z of one configured attention layer, sample by sample, head by head, step by step."""
    n, steps, width = x.shape
    h, d = ly.heads, ly.head_size
    W = {k: (v.T if conv.samples_are_columns else v) for k, v in p.items() if k.startswith("W")}
    z = np.zeros_like(x)
    for s in range(n):
        q, k, v = (x[s] @ W["W" + c] + p["b" + c] for c in "qkv")
        o = np.zeros((steps, width))
        for j in range(h):
            cols = slice(j * d, (j + 1) * d)
            for t in range(steps):
                seen = range(t + 1) if ly.causal else range(steps)
                scores = np.array([q[t, cols] @ k[u, cols] / math.sqrt(d) for u in seen])
                w = np.exp(scores - scores.max())
                w /= w.sum()
                o[t, cols] = sum(wu * v[u, cols] for wu, u in zip(w, seen))
        z[s] = o @ W["Wo"] + p["bo"]
    return z


def _layer(conv="row", causal=False, heads=2, steps=3, width=4):
    spec = load_spec(_spec(conv, causal, heads, steps, width))
    return spec, spec.layers[0], spec.parameters()[0]


@pytest.mark.parametrize("conv", ["row", "column"])
@pytest.mark.parametrize("causal", [False, True])
def test_forward_matches_a_plain_loop(conv, causal):
    spec, ly, p = _layer(conv, causal, heads=2, steps=4, width=6)
    x = np.random.default_rng(1).normal(size=(3, 4, 6))
    z, _ = ly.forward(p, x, spec.conv, spec.bias)
    assert np.allclose(z, _loop(ly, p, x, spec.conv), rtol=1e-12, atol=1e-12)


def test_the_causal_mask_keeps_the_first_step_to_itself():
    spec, ly, p = _layer(causal=True)
    x = np.random.default_rng(2).normal(size=(2, 3, 4))
    moved = x.copy()
    moved[:, 1:] += 1.0  # later steps change: step 0 of a causal layer must not see it
    z0, z1 = ly.forward(p, x, spec.conv, spec.bias)[0], ly.forward(p, moved, spec.conv, spec.bias)[0]
    assert np.allclose(z0[:, 0], z1[:, 0]) and not np.allclose(z0[:, 1], z1[:, 1])


@pytest.mark.parametrize("conv", ["row", "column"])
@pytest.mark.parametrize("causal", [False, True])
def test_the_reference_backward_passes_against_finite_differences(conv, causal):
    result = check_network(_spec(conv, causal), symbolic="off")
    assert result.passed, str(result)
    assert [t.name for t in result.tensors][:8] == ["Wq0", "Wk0", "Wv0", "Wo0", "bq0", "bk0", "bv0", "bo0"]


def test_a_per_step_output_and_complex_steps_pass():
    rng = np.random.default_rng(3)
    raw = _spec("column", True, heads=1, tail=False)
    raw["data"] = {"X": rng.normal(size=(3, 3, 4)).tolist(), "Y": rng.normal(size=(3, 3, 4)).tolist()}
    for method in ("auto", "complex-step"):
        result = check_network(raw, symbolic="off", method=method)
        assert result.passed, str(result)


def test_the_symbolic_opinion_agrees():
    result = check_network(_spec("column", True, heads=1, steps=2, width=2), symbolic="on")
    assert result.passed and "symbolic" in str(result), str(result)


def test_symbolic_z_evaluates_to_the_forward_pass():
    import sympy as sp
    spec, ly, p = _layer("column", True, heads=2, steps=3, width=4)
    x = np.random.default_rng(4).normal(size=(1, 3, 4))
    syms = {k: np.array(sp.symbols(f"{k}_0:{v.size}")).reshape(v.shape) for k, v in p.items()}
    xs = list(sp.symbols("x_0:12"))
    zs = ly.symbolic_z(syms, xs, spec.conv, spec.bias)
    args = [s for k in p for s in syms[k].ravel()] + xs
    values = [v for k in p for v in p[k].ravel()] + list(x.ravel())
    got = np.array(sp.lambdify(args, zs, "math")(*values))
    assert np.allclose(got, ly.forward(p, x, spec.conv, spec.bias)[0].ravel(), rtol=1e-12)


def test_a_wrong_gradient_is_caught_and_the_right_one_passes():
    spec = load_spec(_spec("row", True))

    def right(params, X, Y):
        return backprop(spec, params, X, Y)[1]

    def wrong(params, X, Y):
        grads = right(params, X, Y)
        grads[0]["Wv"] = grads[0]["Wv"] * 1.01
        return grads

    assert check_network(spec, right, symbolic="off").passed
    result = check_network(spec, wrong, symbolic="off")
    assert not result.passed and [t.name for t in result.tensors if not t.passed] == ["Wv0"]


NAMED = {  # impl -> words the diagnosis must contain
    "attn_unscaled": ["attention layer 0", "leaves out the 1/√d", "d = D/heads = 3", "√d = 1.73"],
    "attn_softmax_elementwise": ["attention layer 0", "element by element", "dS = A·(dA − Σ_s dA·A)"],
    "causal_attn_unscaled": ["attention layer 0", "leaves out the 1/√d", "d = D/heads = 2"],
    "causal_attn_softmax_elementwise": ["attention layer 0", "element by element"],
    "causal_attn_mask_not_in_backward": ["attention layer 0", "causal mask is applied in the forward pass but not "
                                                              "in the backward pass"],
}


@pytest.mark.parametrize("impl", ["attn", "causal_attn"])
def test_the_correct_student_attention_passes(impl):
    result = check_network(SPECS[impl], f"{NETS}:{impl}", symbolic="off")
    assert result.passed and not result.diagnosis, str(result)


@pytest.mark.parametrize("impl", sorted(NAMED))
def test_each_attention_mistake_is_named(impl):
    net = "causal_attn" if impl.startswith("causal") else "attn"
    result = check_network(SPECS[net], f"{NETS}:{impl}", symbolic="off")
    assert_one_mistake_named(result, *NAMED[impl])


def test_the_cli_names_the_forgotten_mask(tmp_path, capsys):
    path = tmp_path / "causal.json"
    path.write_text(json.dumps(SPECS["causal_attn"]))
    code = main([str(path), "--impl", f"{NETS}:causal_attn_mask_not_in_backward", "--symbolic", "off"])
    assert code == 1 and "causal mask is applied in the forward pass" in capsys.readouterr().out
    assert main([str(path), "--impl", f"{NETS}:causal_attn", "--symbolic", "off"]) == 0


BAD = [
    ({"heads": 3}, "layers[0].heads", ["4 features", "3 heads", "not divisible by 3"]),
    ({"heads": 0}, "layers[0].heads", []),
    ({"causal": "yes"}, "layers[0].causal", ["true or false"]),
]


@pytest.mark.parametrize(("change", "where", "words"), BAD)
def test_bad_keys_are_one_line_exit_2(change, where, words, tmp_path, capsys):
    raw = _spec()
    raw["layers"][0].update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    code = main([str(path), "--symbolic", "off"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and where in err, err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize(("raw", "words"), [
    ({"input": 4, "layers": [{"type": "attention", "heads": 2}], "loss": "mse"},
     ["layers[0]", "attention layer 0 needs a sequence input"]),
    ({"input": [1, 2, 2], "layers": [{"type": "attention", "heads": 1}], "loss": "mse"},
     ["layers[0]", "got a 1x2x2 image"]),
    ({**_spec(), "bias": "augmented"}, ["bias", "not defined for attention"]),
])
def test_a_layer_without_a_sequence_or_with_an_augmented_bias_is_refused(raw, words, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    code = main([str(path), "--symbolic", "off"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("conv", ["row", "column"])
def test_a_stack_of_perturbed_params_equals_separate_forwards(conv):
    spec, ly, p = _layer(conv, True, heads=2, steps=3, width=4)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 4))
    stack = [{k: v + 0.1 * rng.normal(size=v.shape) for k, v in p.items()} for _ in range(3)]
    stacked = {k: np.stack([s[k] for s in stack]) for k in p}
    z, _ = ly.forward(stacked, x, spec.conv, spec.bias)
    for m in range(3):
        assert np.allclose(z[m], ly.forward(stack[m], x, spec.conv, spec.bias)[0], rtol=1e-13, atol=1e-13)
    xs = rng.normal(size=(3, 2, 3, 4))  # a stack of inputs under one set of params
    z, _ = ly.forward(p, xs, spec.conv, spec.bias)
    assert np.allclose(z[1], ly.forward(p, xs[1], spec.conv, spec.bias)[0], rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("conv", ["row", "column"])
def test_output_change_equals_the_forward_pass_of_the_moved_params(conv):
    spec, ly, p = _layer(conv, True, heads=2, steps=3, width=4)
    x = np.random.default_rng(6).normal(size=(2, 3, 4))
    z, cache = ly.forward(p, x, spec.conv, spec.bias)
    for key, v in p.items():
        index = np.array([0, v.size - 1, v.size // 2])
        delta = np.array([0.3, -0.2, 0.1])
        out = ly.output_change(p, key, index, delta, cache, z, spec.conv, spec.bias)
        for m in range(3):
            moved = dict(p)
            moved[key] = v.copy()
            moved[key].ravel()[index[m]] += delta[m]
            assert np.allclose(out[m], ly.forward(moved, x, spec.conv, spec.bias)[0], rtol=1e-12, atol=1e-12), key


def test_params_and_their_layout_follow_the_convention():
    for conv in ("row", "column"):
        _, ly, p = _layer(conv)
        assert {k: v.shape for k, v in p.items()} == {**{f"W{c}": (4, 4) for c in "qkvo"},
                                                     **{f"b{c}": (4,) for c in "qkvo"}}
        assert ("(in, out)" if conv == "row" else "(out, in)") in ly.param_layout("Wq", CONVENTIONS[conv], SEPARATE)
    assert load_spec({**_spec(), "bias": "none"}).layers[0].param_shapes(CONVENTIONS["row"], load_spec(
        {**_spec(), "bias": "none"}).bias).keys() == {"Wq", "Wk", "Wv", "Wo"}
    assert ly.weights == ("Wq", "Wk", "Wv", "Wo")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attention_networks())
def test_random_attention_networks_check(raw):
    spec = load_spec(raw)
    assert spec.layers[0].kind == "attention" and spec.layers[0].width % spec.layers[0].heads == 0
    result = check_network(raw, symbolic="off")
    assert result.passed, str(result)


def test_its_facts_and_its_size_formulas():
    _, ly, _ = _layer("row", True, heads=2, steps=3, width=4)
    assert not ly.kinked and ly.kink_texts == () and ly.kind == "attention" and not ly.has_activation
    assert ly.size_formulas()[0].startswith("attention 0: d = D/h = 4/2 = 2;")
    assert "(N,2,3,3)" in ly.size_formulas()[2]
