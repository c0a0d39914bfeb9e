"""Sampled checks: every row and column hit, directional derivatives, group testing names planted mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_network
from gradcheck.checks.function import check_function
from gradcheck.numeric.estimate import FULL_SECONDS, estimate_seconds, resolve_mode, sampled_counts
from gradcheck.numeric.sampled import choose_elements
from gradcheck.reference.backprop import backprop
from gradcheck.spec.parse import load_spec


@pytest.mark.parametrize("shape", [(7, 3), (3, 11), (4, 2, 3, 3), (50, 50)])
def test_every_row_and_column_is_hit(shape):
    idx = choose_elements(shape, 5, np.random.default_rng(1))
    rows, cols = np.unravel_index(idx, (shape[0], int(np.prod(shape[1:]))))
    assert set(rows.tolist()) == set(range(shape[0]))
    assert set(cols.tolist()) == set(range(int(np.prod(shape[1:]))))
    assert len(np.unique(idx)) == len(idx)


def test_sample_size_and_vectors():
    rng = np.random.default_rng(0)
    assert len(choose_elements((10, 10), 40, rng)) == 40
    assert len(choose_elements((1000,), 16, rng)) == 16
    np.testing.assert_array_equal(choose_elements((3,), 16, rng), [0, 1, 2])


def medium():
    spec = load_spec({"input": 30, "layers": [{"units": 40, "activation": "tanh"},
                                              {"units": 20, "activation": "sigmoid"},
                                              {"units": 4, "activation": "softmax"}],
                      "loss": "cross_entropy", "batch": 6, "seed": 1})
    return spec


def planted(spec, where, factor):
    def impl(params, X, Y):
        _, grads = backprop(spec, params, X, Y)
        grads[where[0]]["W"][where[1:]] *= factor
        return grads
    return impl


def test_sampled_mode_passes_a_right_backprop_and_says_what_it_checked():
    spec = medium()
    result = check_network(spec, planted(spec, (0, 0, 0), 1.0), symbolic="off", mode="sampled", sample=8,
                           directions=3)
    assert result.passed, str(result)
    assert result.mode == "sampled"
    w0 = result.tensor("W0")
    assert max(40, 30) <= w0.n_checked < w0.values["numeric"].size
    assert any("sampled check" in n and "3 random directional derivatives" in n for n in result.notes)
    # every element of every checked opinion is in one band, the unchecked ones in a band of their own
    counts = result.counts()
    total = sum(t.values["numeric"].size * len(t.checked) for t in result.tensors)
    unchecked = sum((t.values["numeric"].size - t.n_checked) * len(t.checked) for t in result.tensors)
    assert counts["unchecked"] == unchecked > 0 and sum(counts.values()) == total


@pytest.mark.parametrize("where", [(0, 17, 23), (1, 3, 31), (2, 1, 5)])
def test_sampled_mode_catches_and_names_a_planted_wrong_element(where):
    spec = medium()
    result = check_network(spec, planted(spec, where, 1.3), symbolic="off", mode="sampled", sample=4,
                           directions=2)
    assert not result.passed
    worst = result.blame(1, opinion="impl")[0]
    assert (worst.param, worst.index, worst.verdict) == (f"W{where[0]}", where[1:], "wrong"), str(result)
    assert sum(t.count("wrong", "impl") for t in result.tensors) == 1


def test_auto_mode_runs_full_checks_on_small_nets_and_samples_big_ones():
    small = medium()
    assert resolve_mode("auto", small, 6) == ("full", None)
    big = load_spec({"input": 784, "layers": [{"units": 1024, "activation": "relu"}, {"units": 10}], "batch": 32})
    assert estimate_seconds(big, 32) > FULL_SECONDS
    mode, note = resolve_mode("auto", big, 32)
    assert mode == "sampled" and "sampled" in note
    assert resolve_mode("full", big, 32)[0] == "full"
    with pytest.raises(ValueError, match="mode='some'"):
        resolve_mode("some", big, 32)


def test_auto_mode_knows_that_unit_lines_make_a_smooth_net_cheap():
    """The same 814,090 params with tanh: every dense layer's losses come from six passes per unit."""
    smooth = load_spec({"input": 784, "layers": [{"units": 1024, "activation": "tanh"}, {"units": 10}],
                        "batch": 32})
    kinked = load_spec({"input": 784, "layers": [{"units": 1024, "activation": "relu"}, {"units": 10}],
                        "batch": 32})
    assert estimate_seconds(smooth, 32, "richardson") < estimate_seconds(kinked, 32, "central") / 5
    assert resolve_mode("auto", smooth, 32, "richardson") == ("full", None)


LSTM = {"input": {"steps": 20, "features": 64}, "batch": 16, "loss": "mse",
        "layers": [{"type": "lstm", "units": 128, "sequences": True}, {"units": 4}]}


def test_the_estimate_counts_a_recurrent_layer_running_every_step_again():
    """99,332 params: each perturbed network runs the LSTM's 20 steps again (its full check takes over ten minutes
    on a laptop); counted as the dense layer above alone, it had been estimated at about 3 s."""
    spec = load_spec(LSTM)
    assert estimate_seconds(spec, 16) > 600
    mode, note = resolve_mode("auto", spec, 16)
    assert mode == "sampled" and "would take about" in note and " min, so this check is sampled (about " in note
    longer = load_spec({**LSTM, "input": {"steps": 40, "features": 64}})
    assert estimate_seconds(longer, 16) > 1.8 * estimate_seconds(spec, 16)  # twice the steps, twice the work


def test_the_estimate_counts_an_attention_s_projections():
    small, wide = ({"input": {"steps": 4, "features": d}, "batch": 2, "loss": "mse",
                    "layers": [{"type": "attention", "heads": 1}, {"type": "flatten"}, {"units": 2}]}
                   for d in (32, 128))
    # 16× the params, each changing 4-16× the work (its head's scores and their projection, T·d·D; the output
    # copied, T·D): the full checks measured 63× apart, estimated 70×; counted as the dense layer above alone,
    # each element would cost about the same, and the estimates would be about 16× apart
    assert estimate_seconds(load_spec(wide), 2) > 50 * estimate_seconds(load_spec(small), 2)


def test_the_estimate_counts_a_flatten_as_a_copy_and_a_convolution_by_its_windows():
    """A CNN whose full check takes about 0.2 s: a flatten above a conv had been counted as a (C·H·W)² product,
    which made auto sample it."""
    cnn = load_spec({"input": [3, 16, 16], "batch": 8, "loss": "cross_entropy", "layers": [
        {"type": "conv2d", "filters": 8, "kernel": 3, "activation": "relu"}, {"type": "flatten"},
        {"units": 10, "activation": "softmax"}]})
    assert estimate_seconds(cnn, 8) < 0.5
    assert resolve_mode("auto", cnn, 8) == ("full", None)
    flat, conv = cnn.layers[1], cnn.layers[0]
    assert flat.forward_macs == flat.units and conv.forward_macs == 3 * 3 * 3 * conv.units


@pytest.mark.parametrize("k", [5, 64, 256])
def test_the_sampled_count_is_what_the_sample_holds(k):
    spec = load_spec({**LSTM, "input": {"steps": 3, "features": 5}, "layers": [
        {"type": "lstm", "units": 6, "sequences": True}, {"units": 300}, {"units": 2}]})
    rng = np.random.default_rng(0)
    drawn = [sum(len(choose_elements(shape, k, rng)) for shape in shapes.values()) for shapes in spec.param_shapes()]
    assert np.allclose(sampled_counts(spec, k), drawn, rtol=0.1), (sampled_counts(spec, k), drawn)


def test_json_output_names_the_mode_and_the_elements_checked(tmp_path, capsys):
    from gradcheck.cli import main

    path = tmp_path / "net.json"
    path.write_text(json.dumps(medium().to_dict()))
    assert main([str(path), "--format", "json", "--mode", "sampled", "--sample", "8", "--directions", "2",
                 "--symbolic", "off"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mode"] == "sampled"
    counts = {p["name"]: p["checked_elements"] for p in doc["parameters"]}
    assert 40 <= counts["W0"] < 1200 and counts["b2"] == 4
    w0 = doc["parameters"][0]  # only the checked elements' values, and which elements they are
    assert len(w0["elements"]) == len(w0["numeric"]) == len(w0["backprop"]) == counts["W0"]
    assert all(len(index) == 2 for index in w0["elements"])


def test_check_function_sampled_names_the_wrong_element():
    x = np.linspace(-1.0, 1.0, 300).reshape(20, 15)

    def grad(x):
        g = np.cos(x)
        g[13, 4] *= 1.01
        return g

    right = check_function(lambda x: np.sum(np.sin(x)), np.cos, x, mode="sampled", sample=5, directions=2)
    assert right.passed and right.mode == "sampled" and right.tensor("x").n_checked < x.size
    wrong = check_function(lambda x: np.sum(np.sin(x)), grad, x, mode="sampled", sample=5, directions=2)
    assert not wrong.passed
    assert wrong.blame(1)[0].element == "x[13, 4]"


def _relu_at_zero():
    """A relu layer whose units sit at z = 0 for sample 0 (x = 0, b = 0): relu'(0) = 0 is one valid choice, and a
    central difference across the kink gives the mean of the two slopes instead."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, 4))
    X[0] = 0.0
    return {"input": 4, "batch": 6, "loss": "mse", "seed": 2,
            "layers": [{"units": 5, "activation": "relu"}, {"units": 3}],
            "params": [{"W": rng.normal(size=(5, 4)).tolist(), "b": [0.0] * 5},
                       {"W": rng.normal(size=(3, 5)).tolist(), "b": rng.normal(size=3).tolist()}],
            "data": {"X": X.tolist(), "Y": rng.normal(size=(6, 3)).tolist()}}


def test_a_direction_across_a_kink_at_theta_is_judged_by_the_elements_it_names():
    net = _relu_at_zero()
    r = check_network(net, symbolic="off", mode="sampled", sample=2, directions=8)
    assert r.passed, r  # every direction crosses the kinks of b0; held to their central differences, they failed
    note = next(n for n in r.notes if n.startswith("sampled check"))
    assert "8 cross a kink at θ" in note and "the elements group testing names there are checked one by one" in note
    assert all(d.kinked and all(d.agrees.values()) for d in r.directions)


def test_a_wrong_element_away_from_the_kinks_is_still_caught_by_the_directions():
    net = _relu_at_zero()
    spec = load_spec(net)
    r = check_network(net, symbolic="off", mode="sampled", sample=2, directions=8)

    def wrong(params, X, Y):
        _, grads = backprop(spec, params, X, Y)
        grads[1]["W"] = grads[1]["W"].copy()
        grads[1]["W"][2, 4] *= 1.5
        return grads

    bad = check_network(net, wrong, symbolic="off", mode="sampled", sample=2, directions=8)
    assert r.passed and not bad.passed
    assert ("W1", (2, 4)) in [e for d in bad.directions for e in d.located.get("impl", [])]
    assert bad.tensor("W1").first("wrong") == "W1[2, 4]"


def test_check_function_judges_directions_across_a_kink_by_the_elements_they_name():
    x = np.random.default_rng(4).normal(size=12)
    x[[1, 5, 9]] = 0.0

    def f(x):
        return 3 * np.maximum(x, 0).sum() + (x ** 2).sum()

    def grad(x):  # relu'(0) = 0: a valid choice, not the mean of the slopes that a central difference gives
        return 3 * (x > 0) + 2 * x

    assert check_function(f, grad, x, mode="sampled", sample=2, directions=8).passed

    def wrong(x):
        g = grad(x)
        g[0] *= 1.01
        return g

    assert not check_function(f, wrong, x, mode="sampled", sample=2, directions=8).passed



#: Drawn correct networks that a sampled check had failed: every direction crosses kinks at θ (selu units at z = 0
#: feeding an svm hinge at its margin; leaky relus at 0 summed by a residual add). Along some single elements the
#: loss does not move either way, yet the chain rule's choices at the kinks give a nonzero gradient there: only
#: the kink states say that such a part is not smooth.
KINKED_AT_THETA = sorted((Path(__file__).parent / "cases").glob("kinked_*.json"))


@pytest.mark.parametrize("path", KINKED_AT_THETA, ids=lambda p: p.stem)
def test_a_direction_that_crosses_a_kink_state_is_judged_by_the_elements_it_names(path):
    net = json.loads(path.read_text())
    assert check_network(net, symbolic="off", mode="full").passed
    r = check_network(net, symbolic="off", mode="sampled", sample=2, directions=8)
    assert r.passed, r
    assert any(d.kinked for d in r.directions)


def test_check_function_finds_a_wrong_element_among_many_kinks_at_theta():
    """200 elements, 40 of them at 0 under an l1 term and a relu: every direction crosses kinks, and group testing
    must still name the one wrong element."""
    rng = np.random.default_rng(7)
    A = rng.normal(size=(200, 200)) / np.sqrt(200)
    x = rng.normal(size=200)
    x[rng.permutation(200)[:40]] = 0.0

    def f(x):
        return 0.5 * np.sum(np.maximum(A @ x, 0) ** 2) + np.abs(x).sum()

    def grad(x):
        return A.T @ np.maximum(A @ x, 0) + np.sign(x)

    k = int(np.argmax(np.abs(grad(x))))

    def wrong(x):
        g = grad(x)
        g[k] *= 1.5
        return g

    good = check_function(f, grad, x, mode="sampled", sample=4, directions=8)
    bad = check_function(f, wrong, x, mode="sampled", sample=4, directions=8)
    assert good.passed and not bad.passed
    assert any(d.kinked for d in bad.directions)


def test_auto_keeps_a_sampled_check_within_its_time_by_sampling_at_random():
    from gradcheck.numeric.estimate import MIN_SAMPLE, SAMPLED_SECONDS, plan_sample

    big = load_spec({**LSTM, "input": {"steps": 50, "features": 64}, "layers": [
        {"type": "lstm", "units": 512, "sequences": False}, {"units": 4}]})  # 1,183,748 params
    k, cover, seconds = plan_sample(big, 16)
    assert not cover and MIN_SAMPLE <= k < 256 and seconds <= SAMPLED_SECONDS
    mode, note = resolve_mode("auto", big, 16)
    assert mode == "sampled" and "elements of each tensor at random: covering every row and column would take" in note
    small = load_spec(LSTM)
    assert plan_sample(small, 16)[:2] == (256, True)


def test_a_sample_at_random_still_names_a_wrong_element(monkeypatch):
    from gradcheck.numeric import estimate

    monkeypatch.setattr(estimate, "SAMPLED_SECONDS", 1e-9)  # as if covering rows and columns took too long
    raw = {"input": 784, "layers": [{"units": 1024, "activation": "relu"}, {"units": 10}], "batch": 32}
    spec = load_spec(raw)

    def wrong(params, X, Y):
        _, grads = backprop(spec, params, X, Y)
        grads[1]["W"] = grads[1]["W"].copy()
        grads[1]["W"][7, 700] *= 1.5
        return grads

    good = check_network(raw, symbolic="off")
    note = next(n for n in good.notes if n.startswith("sampled check"))
    assert good.passed and "(chosen at random)" in note
    per_tensor = sum(min(int(np.prod(s)), estimate.MIN_SAMPLE) for layer in spec.param_shapes() for s in layer.values())
    assert note.startswith(f"sampled check: {per_tensor} of 814,090 elements"), note  # 16 per tensor, b1 its 10
    bad = check_network(raw, wrong, symbolic="off")
    assert not bad.passed and bad.tensor("W1").first("wrong") == "W1[7, 700]"


def test_auto_checks_in_full_where_sampling_would_save_nothing():
    """32 params and a million samples: a sample of 256 per tensor is every element, and its random directions
    cost more passes besides."""
    spec = load_spec({"input": {"steps": 2, "features": 2}, "batch": 10**6, "loss": "mse", "layers": [
        {"type": "attention", "heads": 1}, {"type": "layernorm"}, {"type": "flatten"}, {"units": 2}]})
    assert estimate_seconds(spec, 10**6) > FULL_SECONDS
    mode, note = resolve_mode("auto", spec, 10**6)
    assert mode == "full" and "no longer than a sampled one, so it runs in full" in note


def test_the_estimate_counts_each_activation_s_own_cost_and_six_losses_per_element():
    """gelu's erfc costs about seventy times tanh's per entry, and an element whose steps are chosen is evaluated at
    the six steps of the first level (2h, h, h/2 either way): six times a complex step's one network."""
    def net(act):  # layer 0's perturbed networks run layer 1's activation on every unit (5× as long with gelu)
        return load_spec({"input": 16, "layers": [{"units": 64, "activation": act}, {"units": 64, "activation": act},
                                                  {"units": 10, "activation": "softmax"}],
                          "loss": "cross_entropy", "batch": 64})

    assert estimate_seconds(net("gelu"), 64) > 3 * estimate_seconds(net("tanh"), 64)
    spec = net("tanh")

    def per_element(method):
        return (estimate_seconds(spec, 64, method, counts=[100, 0, 0])
                - estimate_seconds(spec, 64, method, counts=[0, 0, 0])) / 100

    assert per_element("central") == pytest.approx(6 * per_element("complex-step"))


def test_the_estimate_counts_numpy_s_cost_per_short_row():
    """A transformer over 2 steps of 2 features at a batch of a million: every array's rows are two entries long,
    and NumPy's fixed cost per row (a layernorm's mean and variance of each step, a softmax's max and sum) is most
    of the work. Its full check takes about 2.5 minutes; counted by entries alone it was estimated at 11 s."""
    import json
    from pathlib import Path

    raw = json.loads((Path(__file__).parent.parent / "derivations" / "transformer_block.json").read_text())
    spec = load_spec({**raw, "batch": 1_000_000})
    norm = next(ly for ly in spec.layers if ly.kind == "layernorm")
    attention = spec.layers[0]
    assert norm.row_reductions == 2 * 2 and attention.row_reductions == 2 * 1 * 2  # per step; per head and step
    assert estimate_seconds(spec, 1_000_000) > 40
