"""Sequences and token ids in net.json: inputs, dense per step, flatten, per-step outputs with their loss and mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_network, load_spec
from gradcheck.cli import main
from gradcheck.errors import SpecError
from gradcheck.reference.backprop import backprop, forward

IMPLS = Path(__file__).parent / "impls" / "sequence_nets.py"
RNG = np.random.default_rng(5)
X = RNG.normal(size=(3, 4, 2))
LABELS = RNG.integers(0, 3, (3, 4))
Y = np.eye(3)[LABELS]
MASK = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 0, 1]])
TEMPORAL = {"input": {"steps": 4, "features": 2}, "convention": "row", "loss": "cross_entropy",
            "layers": [{"units": 3, "activation": "softmax"}],
            "data": {"X": X.tolist(), "Y": Y.tolist(), "mask": MASK.tolist()}}


def _central(spec, params, X, Y, h=1e-6):
    out = []
    for i, p in enumerate(params):
        g = {}
        for key in spec.param_shapes()[i]:
            d = np.zeros_like(p[key])
            for idx in np.ndindex(*p[key].shape):
                moved = []
                for s in (h, -h):
                    q = [{k: v.copy() for k, v in r.items()} for r in params]
                    q[i][key][idx] += s
                    moved.append(backprop(spec, q, X, Y)[0])
                d[idx] = (moved[0] - moved[1]) / (2 * h)
            g[key] = d
        out.append(g)
    return out


@pytest.mark.parametrize("convention", ["row", "column"])
@pytest.mark.parametrize("bias", ["separate", "augmented"])
def test_dense_per_step_backprop_matches_central_differences(convention, bias):
    spec = load_spec({"input": {"steps": 3, "features": 2}, "convention": convention, "bias": bias, "batch": 4,
                      "layers": [{"units": 4, "activation": "tanh"}, {"type": "flatten"}, {"units": 2}]})
    params, (Xb, Yb) = spec.parameters(), spec.batch_data()
    assert Xb.shape == (4, 3, 2)  # (N, T, D) in both conventions
    _, grads = backprop(spec, params, Xb, Yb)
    for g, n in zip(grads, _central(spec, params, Xb, Yb)):
        for key in n:
            np.testing.assert_allclose(g[key], n[key], rtol=1e-6, atol=1e-10)


def test_dense_per_step_is_the_same_affine_map_at_every_step():
    spec = load_spec({"input": {"steps": 3, "features": 2}, "convention": "column", "batch": 2,
                      "layers": [{"units": 4}, {"type": "flatten"}, {"units": 1}]})
    params, (Xb, _) = spec.parameters(), spec.batch_data()
    z = forward(spec, params, Xb).z[0]
    W, b = params[0]["W"], params[0]["b"]  # column convention: W is (units, fan_in)
    for t in range(3):
        np.testing.assert_allclose(z[:, t], Xb[:, t] @ W.T + b)


def test_the_temporal_loss_sums_steps_and_averages_samples_with_the_mask():
    spec = load_spec(TEMPORAL)
    params, (Xb, Yb) = spec.parameters(), spec.batch_data()
    C, _ = backprop(spec, params, Xb, Yb)
    s = Xb @ params[0]["W"] + params[0]["b"]
    logp = s - np.log(np.exp(s).sum(axis=-1, keepdims=True))
    expected = -(np.take_along_axis(logp, LABELS[..., None], -1)[..., 0] * MASK).sum() / 3
    assert C == pytest.approx(expected, rel=1e-12)


def test_masked_steps_get_no_gradient_and_the_check_passes():
    spec = load_spec(TEMPORAL)
    result = check_network(spec)
    assert result.passed, str(result)
    assert "symbolic" in result.checked  # the whole batch written out, the masked steps left out of C


@pytest.mark.parametrize("impl, ok", [("temporal", True), ("temporal_mask_ignored", False),
                                      ("temporal_mean_over_steps", False)])
def test_an_impl_gets_the_mask_and_mistakes_are_caught(impl, ok):
    result = check_network(load_spec(TEMPORAL), f"{IMPLS}:{impl}", symbolic="off")
    assert result.passed is ok, str(result)


def test_the_mean_over_steps_is_named_as_a_factor_of_the_steps():
    result = check_network(load_spec({**TEMPORAL, "data": {"X": X.tolist(), "Y": Y.tolist()}}),
                           f"{IMPLS}:temporal_mean_over_steps", symbolic="off")
    assert not result.passed
    assert "T=4 times too small" in " ".join(result.diagnosis), result.diagnosis


def test_a_per_step_softmax_output_passes_the_three_way_check():
    spec = load_spec({**TEMPORAL, "data": {"X": X.tolist(), "Y": Y.tolist()}})
    result = check_network(spec)
    assert result.passed and "symbolic" in result.checked, str(result)


def test_a_sequence_batch_is_n_t_d_in_both_conventions():
    for convention in ("row", "column"):
        spec = load_spec({"input": {"steps": 2, "features": 5}, "convention": convention, "batch": 3,
                          "layers": [{"type": "flatten"}, {"units": 2}]})
        assert spec.batch_data()[0].shape == (3, 2, 5)
        assert load_spec(spec.to_dict()).input == (2, 5)


@pytest.mark.parametrize("raw, words", [
    ({"input": {"steps": 2, "vocab": 5}, "layers": [{"units": 2}]}, ["layers[0]", "token ids", "embedding"]),
    ({"input": {"steps": 2}, "layers": [{"units": 2}]}, ["input", "one of features and vocab"]),
    ({"input": {"steps": 2, "features": 3, "vocab": 4}, "layers": [{"units": 2}]}, ["input", "one of"]),
    ({"input": {"steps": 0, "features": 3}, "layers": [{"units": 2}]}, ["input.steps"]),
    ({**TEMPORAL, "data": {"X": X.tolist(), "Y": Y.tolist(), "mask": (MASK * 2).tolist()}},
     ["data.mask[0][0]", "0 (step left out) or 1"]),
    ({**TEMPORAL, "data": {"X": X.tolist(), "Y": Y.tolist(), "mask": MASK[:, :2].tolist()}}, ["data.mask", "(3, 4)"]),
    ({"input": 2, "layers": [{"units": 2}], "data": {"X": [[1, 2]], "Y": [[1, 0]], "mask": [[1]]}},
     ["data.mask", "per-step output"]),
    ({**TEMPORAL, "data": {"X": X[:, :3].tolist(), "Y": Y.tolist()}}, ["data.X", "T=4"]),
])
def test_bad_sequence_input_is_a_one_line_error(raw, words):
    with pytest.raises(SpecError) as e:
        load_spec(raw)
    text = str(e.value)
    assert "\n" not in text
    for w in words:
        assert w in text, text


def test_token_ids_must_be_whole_and_in_the_vocab(tmp_path, capsys):
    from gradcheck.catalogue.layers.base import Tokens
    from gradcheck.spec.arrays import _steps

    ids = np.array([[0, 1], [2, 4]], dtype=float)
    assert _steps(ids, Tokens(2, 5), "X", None).dtype == np.int64
    for bad, words in ((np.array([[0, 1], [2, 5]]), ["data.X[1][1]", "sample 1, step 1", "outside the vocab"]),
                       (np.array([[0, 1.5], [2, 3]]), ["data.X[0][1]", "whole number"])):
        with pytest.raises(SpecError) as e:
            _steps(bad.astype(float), Tokens(2, 5), "X", None)
        for w in words:
            assert w in str(e.value), str(e.value)


def test_the_cli_runs_a_sequence_spec(tmp_path, capsys):
    path = tmp_path / "net.json"
    import json

    path.write_text(json.dumps(TEMPORAL))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "(N,4,3)" in out.replace(" ", "") or "(5,4,3)" in out.replace(" ", "") or "4,3" in out
