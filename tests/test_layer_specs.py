"""net.json with images and the new layer kinds: bad input, the shape trace with its formulas, --impl."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradcheck import SpecError, check_network, load_spec, trace_shapes
from gradcheck.cli import main

CONV = {"type": "conv2d", "filters": 2, "kernel": 3, "activation": "relu"}
TAIL = [{"type": "flatten"}, {"units": 3, "activation": "softmax"}]


def cnn(*layers, input=(1, 6, 6), **top):
    return {"input": list(input), "layers": [*layers, *TAIL], "loss": "cross_entropy", **top}


def refused(raw):
    with pytest.raises(SpecError) as e:
        load_spec(raw)
    assert "\n" not in str(e.value)
    return e.value


# -- bad input: every misfit names the layer, the formula with the user's numbers and a fix -------

@pytest.mark.parametrize(("layer", "path", "fragments"), [
    ({"type": "conv2d", "filters": 2, "kernel": 4, "stride": 3}, "layers[0]",
     ["conv2d 0: H' = (6 + 2·0 − 4)/3 + 1", "not a whole number", "try padding", "stride 2 (H' = 2)"]),
    ({"type": "conv2d", "filters": 2, "kernel": 7}, "layers[0]",
     ["conv2d 0: H' = (6 + 2·0 − 7)/1 + 1 < 1", "larger than the padded input", "at most 6"]),
    ({"type": "conv2d", "filters": 2, "kernel": [3, 2], "stride": 2, "padding": 1}, "layers[0]",
     ["H' = (6 + 2·1 − 3)/2 + 1 = 3.5", "try stride 1 (H' = 6) or kernel 2 (H' = 4)"]),
    ({"type": "maxpool2d", "size": 4}, "layers[0]",
     ["maxpool2d 0: H' = (6 − 4)/4 + 1 = 1.5", "do not tile", "try stride 2 (H' = 2)"]),
    ({"type": "avgpool2d", "size": 2, "stride": 3}, "layers[0]", ["avgpool2d 0: H' = (6 − 2)/3 + 1", "size"]),
    ({"type": "maxpool2d", "size": 8}, "layers[0]", ["larger than the input", "at most 6"]),
])
def test_size_misfits(layer, path, fragments):
    err = refused(cnn(layer))
    assert err.path == path
    for f in fragments:
        assert f in str(err), str(err)


def test_misfit_deeper_in_the_network_names_that_layer():
    err = refused(cnn(CONV, {"type": "maxpool2d", "size": 3}))  # 4x4 after the conv
    assert err.path == "layers[1]" and "maxpool2d 1: H' = (4 − 3)/3 + 1" in str(err)


@pytest.mark.parametrize(("raw", "path", "fragment"), [
    (cnn(CONV, bias="augmented"), "bias", "not defined for conv layers"),
    ({"input": 4, "layers": [CONV, *TAIL], "loss": "cross_entropy"}, "layers[0]", "needs an image input"),
    ({"input": 4, "layers": [{"type": "maxpool2d", "size": 2}, *TAIL], "loss": "cross_entropy"}, "layers[0]",
     "needs an image input"),
    (cnn(), "layers[1]", None),  # flatten then dense: fine, checked below
    ({"input": [1, 6, 6], "layers": [{"units": 3}]}, "layers[0]", "flatten"),
    ({"input": [1, 6, 6], "layers": [CONV]}, "layers[0]", "must end in a vector"),
    ({"input": [1, 6], "layers": [{"units": 3}]}, "input", "[C, H, W]"),
    ({"input": [1, 0, 6], "layers": [{"units": 3}]}, "input[1]", "whole number >= 1"),
    (cnn({**CONV, "filter": 2}), "layers[0].filter", "did you mean 'filters'"),
    (cnn({"type": "conv2d", "kernel": 3}), "layers[0]", "missing required key 'filters'"),
    (cnn({**CONV, "kernel": [3, 3, 3]}), "layers[0].kernel", "[height, width]"),
    (cnn({**CONV, "stride": 0}), "layers[0].stride", "whole number >= 1"),
    (cnn({**CONV, "padding": -1}), "layers[0].padding", "whole number >= 0"),
    ({"input": 3, "layers": [{"type": "dropout", "p": 1}, {"units": 1}]}, "layers[0].p", "< 1"),
    ({"input": 3, "layers": [{"type": "dropout", "p": -0.1}, {"units": 1}]}, "layers[0].p", ">= 0"),
    ({"input": 3, "layers": [{"type": "dropout"}, {"units": 1}]}, "layers[0]", "missing required key 'p'"),
    ({"input": 3, "layers": [{"type": "batchnorm", "eps": 0}, {"units": 1}]}, "layers[0].eps", "> 0"),
    ({"input": 3, "layers": [{"type": "activation"}, {"units": 1}]}, "layers[0]", "'activation'"),
    ({"input": 3, "layers": [{"type": "activation", "activation": "softmax"}, {"units": 1}]},
     "layers[0].activation", "last layer"),
    ({"input": 3, "layers": [{"type": "batchnorm", "units": 3}, {"units": 1}]}, "layers[0].units", "unknown key"),
    ({"input": 3, "layers": [{"type": "convolution"}, {"units": 1}]}, "layers[0].type", "conv2d"),
])
def test_bad_layer_specs(raw, path, fragment):
    if fragment is None:
        assert load_spec(raw).layers[0].out_shape == (36,)
        return
    err = refused(raw)
    assert err.path == path and fragment in str(err), str(err)


DENSE_P = {"W": np.zeros((3, 8)).tolist(), "b": [0, 0, 0]}
CONV_P = {"W": np.zeros((2, 1, 3, 3)).tolist(), "b": [0, 0]}


@pytest.mark.parametrize(("params", "path", "fragment"), [
    ([CONV_P, {"W": [1.0]}, {}, DENSE_P], "params[1].W", "has no params"),
    ([{**CONV_P, "W": np.zeros((2, 3, 3)).tolist()}, {}, {}, DENSE_P], "params[0].W",
     "(2, 1, 3, 3) = (filters, channels, kh, kw)"),
    ([{"W": CONV_P["W"]}, {}, {}, DENSE_P], "params[0]", "missing 'b'"),
])
def test_bad_params(params, path, fragment):
    raw = {"input": [1, 6, 6], "layers": [CONV, {"type": "maxpool2d", "size": 2}, *TAIL], "loss": "cross_entropy"}
    assert load_spec({**raw, "params": [CONV_P, None, {}, DENSE_P]}).params[1] == {}
    err = refused({**raw, "params": params})
    assert err.path == path and fragment in str(err), str(err)


@pytest.mark.parametrize(("entry", "path", "fragment"), [
    ({"gamma": [1, 1], "beta": [0, 0, 0]}, "params[1].gamma", "(3,) = (features,)"),
    ({"gamma": [1, 1, 1]}, "params[1]", "missing 'beta'"),
])
def test_bad_norm_params(entry, path, fragment):
    raw = {"input": 2, "layers": [{"units": 3}, {"type": "batchnorm"}, {"units": 1}],
           "params": [{"W": [[1, 0], [0, 1], [1, 1]], "b": [0, 0, 0]}, entry, {"W": [[1, 1, 1]], "b": [0]}]}
    err = refused(raw)
    assert err.path == path and fragment in str(err), str(err)


@pytest.mark.parametrize(("mask", "path", "fragment"), [
    ([[2, 0, 2]], "params[1].mask", "expected shape (3, 2)"),
    ([[2, 0], [1, 2], [0, 0]], "params[1].mask[1, 0]", "0 (dropped) or 1/(1 − p) = 2"),
])
def test_bad_masks(mask, path, fragment):
    raw = {"input": 2, "batch": 2, "layers": [{"units": 3}, {"type": "dropout", "p": 0.5}, {"units": 1}],
           "params": [{"W": [[1, 0], [0, 1], [1, 1]], "b": [0, 0, 0]}, {"mask": mask}, {"W": [[1, 1, 1]], "b": [0]}]}
    err = refused(raw)
    assert err.path == path and fragment in str(err), str(err)


def test_image_data():
    raw = cnn(CONV, data={"X": [np.zeros((1, 6, 6)).tolist()] * 2, "Y": [[1, 0, 0], [0, 1, 0]]})
    X, Y = load_spec(raw).batch_data()
    assert X.shape == (2, 1, 6, 6) and Y.shape == (3, 2)
    err = refused({**raw, "data": {"X": [np.zeros((6, 6)).tolist()] * 2, "Y": [[1, 0, 0], [0, 1, 0]]}})
    assert err.path == "data.X" and "1×6×6 image per sample" in str(err)


def test_cli_misfit_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "net.json"
    path.write_text(json.dumps(cnn({"type": "conv2d", "filters": 2, "kernel": 4, "stride": 3})))
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "layers[0]" in err and "H' = (6 + 2·0 − 4)/3 + 1" in err


# -- the shape trace -------------------------------------------------------------------------------

def test_trace_formulas_and_steps():
    trace = trace_shapes(load_spec(cnn(CONV, {"type": "maxpool2d", "size": 2})))
    assert trace.formulas() == ["conv2d 0: H' = (6 + 2·0 − 3)/1 + 1 = 4", "conv2d 0: W' = (6 + 2·0 − 3)/1 + 1 = 4",
                                "conv2d 0: x (N,1,6,6) ⋆ W (2,1,3,3) + b (2,) -> (N,2,4,4)",
                                "maxpool2d 1: H' = (4 − 2)/2 + 1 = 2", "maxpool2d 1: W' = (4 − 2)/2 + 1 = 2",
                                "maxpool2d 1: a_prev (N,2,4,4) -> (N,2,2,2), max over 2x2 windows",
                                "flatten 2: 2·2·2 = 8"]
    conv = trace.layers[0]
    assert conv.shapes["a_prev"] == ((1, 1, 6, 6), ("N", 1, 6, 6))
    assert conv.shapes["W"][1] == (2, 1, 3, 3) and conv.shapes["dW"][1] == (2, 1, 3, 3)
    z = next(s for s in conv.steps if s.name == "z")
    assert z.equation().endswith("(N,1,4,4,3,3), (2,1,3,3)) + (2,1,1) -> (N,2,4,4)")
    flat = trace.layers[2]
    assert flat.shapes["z"][1] == (8, "N")  # column convention
    assert [s.result for s in trace.steps("backward") if s.layer == 0 and s.name == "da_prev"] == [("N", 1, 6, 6)]


@pytest.mark.parametrize(("convention", "flat"), [("column", (8, "N")), ("row", ("N", 8))])
def test_trace_flatten_follows_the_convention(convention, flat):
    trace = trace_shapes(load_spec(cnn(CONV, {"type": "maxpool2d", "size": 2}, convention=convention)))
    assert trace.layers[2].shapes["z"][1] == flat
    assert trace.layers[3].shapes["W"][1] == ((3, 8) if convention == "column" else (8, 3))


def test_trace_norms_and_dropout():
    spec = load_spec({"input": [2, 4, 4], "layers": [
        {"type": "batchnorm"}, {"type": "layernorm"}, {"type": "dropout", "p": 0.5}, *TAIL], "loss": "cross_entropy"})
    trace = trace_shapes(spec)
    bn, ln, drop = trace.layers[:3]
    assert bn.shapes["gamma"][1] == (2,) and bn.shapes["dgamma"][1] == (2,)
    assert ln.shapes["gamma"][1] == (2, 4, 4) and ln.shapes["dbeta"][1] == (2, 4, 4)
    assert drop.shapes["mask"][1] == ("N", 2, 4, 4) and "dmask" not in drop.shapes
    mu = next(s for s in bn.steps if s.name == "mu")
    assert mu.result == (1, 2, 1, 1)


def test_trace_only_cli_and_json(tmp_path, capsys):
    path = tmp_path / "cnn.json"
    path.write_text(json.dumps(cnn(CONV, {"type": "maxpool2d", "size": 2})))
    assert main([str(path), "--trace-only"]) == 0
    out = capsys.readouterr().out
    assert "conv2d 0: H' = (6 + 2·0 − 3)/1 + 1 = 4" in out and "(N,2,4,4)" in out
    assert main([str(path), "--trace-only", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["shapes"]["layers"][0]["formulas"][0] == "conv2d 0: H' = (6 + 2·0 − 3)/1 + 1 = 4"


# -- checks with --impl ----------------------------------------------------------------------------

def _cnn_backprop(params, X, Y, flip=False, forget_mask=False):
    """A hand-written backprop of conv 3x3 relu -> maxpool 2 -> flatten -> dense softmax, column convention."""
    from numpy.lib.stride_tricks import sliding_window_view
    W0, b0, W3, b3 = params[0]["W"], params[0]["b"], params[3]["W"], params[3]["b"]
    N = X.shape[0]
    win = sliding_window_view(X, (3, 3), axis=(2, 3))
    z0 = np.einsum("nchwpq,fcpq->nfhw", win, W0) + b0[:, None, None]
    a0 = np.maximum(z0, 0)
    blocks = a0.reshape(N, 2, 2, 2, 2, 2)
    pooled = blocks.max(axis=(3, 5))
    f = pooled.reshape(N, -1).T
    z3 = W3 @ f + b3[:, None]
    e = np.exp(z3 - z3.max(axis=0))
    d3 = (e / e.sum(axis=0) - Y) / N
    df = (W3.T @ d3).T.reshape(N, 2, 2, 2)
    da0 = ((blocks == pooled[:, :, :, None, :, None]) * df[:, :, :, None, :, None]).reshape(N, 2, 4, 4)
    d0 = da0 * (z0 > 0)
    dW0 = np.einsum("nfhw,nchwpq->fcpq", d0, win)
    if flip:
        dW0 = dW0[:, :, ::-1, ::-1]
    return [{"W": dW0, "b": d0.sum(axis=(0, 2, 3))}, None, {}, {"W": d3 @ f.T, "b": d3.sum(axis=1)}]


def test_impl_for_a_cnn_passes_and_a_flipped_kernel_fails():
    spec = cnn(CONV, {"type": "maxpool2d", "size": 2}, batch=3)
    good = check_network(spec, _cnn_backprop, symbolic="off")
    assert good.passed, str(good)
    assert [t.name for t in good.tensors] == ["W0", "b0", "W3", "b3"]
    bad = check_network(spec, lambda p, X, Y: _cnn_backprop(p, X, Y, flip=True), symbolic="off")
    assert not bad.passed and not bad.tensor("W0").passed and bad.tensor("b0").passed


def test_impl_gets_the_mask_and_returns_no_gradient_for_it():
    spec = {"input": 3, "batch": 4, "loss": "sse",
            "layers": [{"units": 4, "activation": "tanh"}, {"type": "dropout", "p": 0.5}, {"units": 1}]}

    def backprop(params, X, Y, use_mask=True):
        W0, b0, mask, W2, b2 = params[0]["W"], params[0]["b"], params[1]["mask"], params[2]["W"], params[2]["b"]
        a0 = np.tanh(W0 @ X + b0[:, None])
        d1 = a0 * mask
        out = W2 @ d1 + b2[:, None]
        d2 = out - Y
        da1 = W2.T @ d2
        d0 = (da1 * mask if use_mask else da1) * (1 - a0 ** 2)
        return [{"W": d0 @ X.T, "b": d0.sum(axis=1)}, {"mask": None}, {"W": d2 @ d1.T, "b": d2.sum(axis=1)}]

    assert check_network(spec, backprop, symbolic="off").passed
    bad = check_network(spec, lambda p, X, Y: backprop(p, X, Y, use_mask=False), symbolic="off")
    assert not bad.passed and not bad.tensor("W0").passed and bad.tensor("W2").passed


def test_json_names_gamma_and_beta(tmp_path, capsys):
    path = tmp_path / "bn.json"
    path.write_text(json.dumps({"input": 3, "layers": [{"units": 4}, {"type": "batchnorm"}, {"units": 2}]}))
    assert main([str(path), "--format", "json", "--symbolic", "off"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(p["name"], p["kind"], p["layer"]) for p in doc["parameters"]] == [
        ("W0", "W", 0), ("b0", "b", 0), ("gamma1", "gamma", 1), ("beta1", "beta", 1), ("W2", "W", 2), ("b2", "b", 2)]


def test_spec_round_trip_keeps_every_layer():
    raw = cnn(CONV, {"type": "maxpool2d", "size": 2, "stride": 2}, convention="row")
    spec = load_spec(raw)
    again = load_spec(spec.to_dict())
    assert again.layers == spec.layers and again.input == (1, 6, 6)
    assert spec.to_dict()["layers"][0] == {"type": "conv2d", "filters": 2, "kernel": 3, "stride": 1, "padding": 0,
                                           "activation": "relu"}


def test_a_check_without_a_symbolic_opinion_does_not_import_sympy():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import sys; from gradcheck.cli import main; "
            "code = main(['derivations/tiny_cnn.json', '-q', '--symbolic', 'off']); "
            "print(code, 'sympy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.stdout.split()[-2:] == ["0", "False"], done.stdout + done.stderr


def test_auto_skipping_a_network_over_its_limit_does_not_import_sympy():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import sys; from gradcheck import check_network; "
            "r = check_network({'input': 130, 'layers': [{'units': 100}, {'units': 3}], 'loss': 'mse', 'batch': 2}, "
            "mode='sampled', sample=4, directions=2); "
            "print(any('parameters > limit' in n for n in r.notes), 'sympy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.stdout.split()[-2:] == ["True", "False"], done.stdout + done.stderr


def test_line_trace_of_a_cnn_impl_counts_the_samples_of_images():
    """N is the batch axis of Y (X is (N, C, H, W)): the user's window view matches the reference's a_win."""
    def flat_dw(params, X, Y):
        grads = _cnn_backprop(params, X, Y)
        grads[0]["W"] = grads[0]["W"].reshape(2, -1)
        return grads

    result = check_network(cnn(CONV, {"type": "maxpool2d", "size": 2}, batch=3), flat_dw, symbolic="off")
    text = " ".join(result.diagnosis)
    assert "reshape(2, -1)" in text and "sliding_window_view" not in text, text
