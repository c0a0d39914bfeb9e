"""net.json parsing and validation: every refusal names the JSON path and says expected vs given."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gradcheck import Spec, SpecError, load_spec

SIG221 = {"input": 2, "layers": [{"units": 2, "activation": "sigmoid"}, {"units": 1, "activation": "sigmoid"}]}


def net(**changes):
    """A valid 2-3-1 description with some keys replaced (``None`` removes a key)."""
    raw = {"input": 2, "layers": [{"units": 3, "activation": "tanh"}, {"units": 1, "activation": "linear"}]}
    raw.update(changes)
    return {k: v for k, v in raw.items() if v is not None}


def refused(raw):
    """The SpecError ``raw`` raises (fails the test if it is accepted)."""
    with pytest.raises(SpecError) as info:
        load_spec(raw)
    return info.value


def assert_refused(raw, path, *fragments):
    err = refused(raw)
    msg = str(err)
    assert msg.startswith(f"{path}: "), msg
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    assert "\n" not in msg
    return err


# -- defaults ---------------------------------------------------------------------------

def test_defaults_are_the_documented_ones():
    spec = load_spec({"input": 2, "layers": [{"units": 3}]})
    assert (spec.loss, spec.convention, spec.bias.name, spec.seed, spec.batch) == ("mse", "column", "separate", 0, 4)
    assert spec.layers[0].activation == "linear" and spec.layers[0].kind == "dense"
    assert spec.params is None and spec.data is None and spec.impl is None
    assert spec.name == "network" and spec.n_samples == 4


def test_name_defaults_to_the_file_stem(tmp_path):
    path = tmp_path / "my_net.json"
    path.write_text(json.dumps(net()))
    spec = load_spec(path)
    assert spec.name == "my_net" and spec.source == str(path)


def test_fan_in_chains_through_the_layers():
    spec = load_spec({"input": 5, "layers": [{"units": 4}, {"units": 3}, {"units": 2}]})
    assert [(ly.fan_in, ly.units) for ly in spec.layers] == [(5, 4), (4, 3), (3, 2)]
    assert spec.output == 2 and [ly.index for ly in spec.layers] == [0, 1, 2]


def test_a_spec_passes_through_and_from_dict_agrees():
    spec = load_spec(net())
    assert load_spec(spec) is spec
    assert Spec.from_dict(net()) == spec


# -- unknown keys, missing keys ---------------------------------------------------------

@pytest.mark.parametrize(("raw", "path", "suggestion"), [
    (net(los="mse"), "los", "loss"),
    (net(Layers=[]), "Layers", "layers"),
    (net(convension="row"), "convension", "convention"),
    (net(layers=[{"unit": 3}]), "layers[0].unit", "units"),
    (net(layers=[{"units": 3, "activaton": "tanh"}]), "layers[0].activaton", "activation"),
    (net(data={"X": [[1, 2]], "Y": [[1]], "Z": 1}), "data.Z", None),
])
def test_unknown_keys_are_named_with_a_suggestion(raw, path, suggestion):
    key = path.rsplit(".", 1)[-1]
    err = assert_refused(raw, path, f"unknown key '{key}'", "allowed:")
    if suggestion:
        assert f"did you mean '{suggestion}'" in str(err)


def test_unknown_param_key_suggests_the_right_case():
    # A learner writes {"w": ..., "b": ...}; 'W' is the only close key and should be suggested.
    raw = net(layers=[{"units": 2}], params=[{"w": [[1, 2], [3, 4]], "b": [1, 2]}])
    assert_refused(raw, "params[0].w", "unexpected key 'w'", "did you mean 'W'")


@pytest.mark.parametrize(("raw", "path", "missing"), [
    (net(input=None), "input", "input"),
    (net(layers=None), "layers", "layers"),
    (net(layers=[{"activation": "tanh"}]), "layers[0]", "units"),
    (net(data={"X": [[1, 2]]}), "data", "Y"),
])
def test_missing_required_keys(raw, path, missing):
    assert_refused(raw, path, f"missing required key '{missing}'")


# -- wrong types ------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "path", "given"), [
    (net(input="2"), "input", "'2' (a string)"),
    (net(input=2.5), "input", "2.5"),
    (net(input=None, layers=[{"units": 1}]) | {"input": [2]}, "input", "a list of 1"),
    (net(layers={"units": 3}), "layers", "an object"),
    (net(layers=[]), "layers", "a list of 0"),
    (net(layers=[3]), "layers[0]", "3"),
    (net(layers=[{"units": "3"}]), "layers[0].units", "'3' (a string)"),
    (net(layers=[{"units": 3.5}]), "layers[0].units", "3.5"),
    (net(loss=3), "loss", "3"),
    (net(convention=["row"]), "convention", "a list of 1"),
    (net(bias=None) | {"bias": 0}, "bias", "0"),
    (net(name=5), "name", "5"),
    (net(description=["x"]), "description", "a list of 1"),
    (net(seed=-1), "seed", "-1"),
    (net(seed=1.5), "seed", "1.5"),
    (net(batch=0), "batch", "0"),
    (net(impl="no_colon"), "impl", "'no_colon' (a string)"),
    (net(params={"W": 1}), "params", "an object"),
    (net(params=[{"W": [[1, 2]] * 3, "b": [0] * 3}]), "params", "got 1"),
    (net(params=[[1], [2]]), "params[0]", "a list of 1"),
    (net(data=[[1, 2]]), "data", "a list of 1"),
    (net(data={"X": [[1, "2"]], "Y": [[1]]}), "data.X[0][1]", "'2' (a string)"),
    (net(data={"X": [[1, None]], "Y": [[1]]}), "data.X[0][1]", "null"),
    (net(data={"X": [], "Y": []}), "data.X", "empty list"),
])
def test_wrong_types_name_path_and_given_value(raw, path, given):
    assert_refused(raw, path, "expected", given)


@pytest.mark.parametrize(("raw", "path"), [
    (net(input=True), "input"),
    (net(layers=[{"units": True}]), "layers[0].units"),
    (net(batch=True), "batch"),
    (net(seed=False), "seed"),
    (net(data={"X": [[1, True]], "Y": [[1]]}), "data.X[0][1]"),
    (net(layers=[{"units": 1}], params=[{"W": [[True, 1]], "b": [0]}]), "params[0].W[0][0]"),
])
def test_booleans_are_not_numbers(raw, path):
    assert_refused(raw, path, "(a boolean)")


@pytest.mark.parametrize("units", [0, -3])
def test_units_must_be_positive(units):
    assert_refused(net(layers=[{"units": units}]), "layers[0].units", "expected a whole number >= 1", str(units))


def test_whole_floats_are_accepted_as_ints():
    spec = load_spec(net(input=2.0, layers=[{"units": 3.0}], batch=5.0))
    assert spec.input == 2 and spec.layers[0].units == 3 and spec.batch == 5
    assert all(isinstance(v, int) for v in (spec.input, spec.layers[0].units, spec.batch))


@pytest.mark.parametrize(("field", "value", "valid"), [
    ("loss", "mes", "mse"), ("convention", "rows", "row"), ("bias", "augment", "augmented"),
])
def test_unknown_names_suggest_the_closest(field, value, valid):
    assert_refused(net(**{field: value}), field, f"unknown '{value}'", f"did you mean '{valid}'", "expected one of")


def test_unknown_activation_suggests():
    assert_refused(net(layers=[{"units": 2, "activation": "sigmod"}]), "layers[0].activation", "did you mean 'sigmoid'")


# -- activation / loss constraints ------------------------------------------------------

def test_softmax_only_on_the_last_layer():
    raw = net(layers=[{"units": 3, "activation": "softmax"}, {"units": 3, "activation": "softmax"}],
              loss="cross_entropy")
    assert_refused(raw, "layers[0].activation", "softmax", "last layer")


@pytest.mark.parametrize(("loss", "needs", "given"), [
    ("cross_entropy", "softmax", "sigmoid"), ("cross_entropy", "softmax", "linear"),
    ("bce", "sigmoid", "softmax"), ("bce", "sigmoid", "tanh"),
])
def test_loss_needs_its_output_activation(loss, needs, given):
    raw = net(layers=[{"units": 3, "activation": "tanh"}, {"units": 2, "activation": given}], loss=loss)
    assert_refused(raw, "layers[1].activation", f"loss {loss} needs a {needs} output layer", given)


@pytest.mark.parametrize("loss", ["mse", "quadratic", "sse"])
def test_softmax_output_needs_cross_entropy(loss):
    raw = net(layers=[{"units": 3, "activation": "softmax"}], loss=loss)
    assert_refused(raw, "loss", "cross_entropy", loss)


# -- numbers and arrays -----------------------------------------------------------------

@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_params_are_refused(tmp_path, bad):
    # Python's json module accepts NaN/Infinity (and 1e999 overflows to inf): gradcheck must not.
    text = ('{"input": 2, "layers": [{"units": 2}], "params": [{"W": [[1, 2], [%s, 4]], "b": [0, 0]}]}' % bad)
    path = tmp_path / "nan.json"
    path.write_text(text)
    err = refused(path)
    assert "params[0].W[1][0]" in str(err) and "expected a finite number" in str(err)
    assert err.path == "params[0].W[1][0]" and err.source == str(path)


@pytest.mark.parametrize("key", ["X", "Y"])
def test_non_finite_numbers_in_data_are_refused(key):
    data = {"X": [[1.0, 2.0], [3.0, 4.0]], "Y": [[1.0], [0.0]]}
    data[key][1][0] = math.nan if key == "X" else math.inf
    assert_refused(net(data=data), f"data.{key}[1][0]", "expected a finite number")


@pytest.mark.parametrize(("raw", "path"), [
    (net(layers=[{"units": 2}], params=[{"W": [[1, 2], [3]], "b": [0, 0]}]), "params[0].W"),
    (net(data={"X": [[1, 2], [3, 4, 5]], "Y": [[1], [2]]}), "data.X"),
])
def test_ragged_arrays_are_refused(raw, path):
    assert_refused(raw, path, "rows of different lengths", "rectangular")


@pytest.mark.parametrize(("raw", "path", "expected", "got"), [
    (net(data={"X": [[1, 2], 3], "Y": [[1], [2]]}), "data.X[1]", "expected a list of 2, as data.X[0] is", "got 3"),
    (net(data={"X": [[1, 2], [3, [4]]], "Y": [[1], [2]]}), "data.X[1][1]", "expected a number, as data.X[1][0] is",
     "got a list of 1"),
    (net(data={"X": [[1, 2], [[3], [4]]], "Y": [[1], [2]]}), "data.X[1][0]", "expected a number, as data.X[0][0] is",
     "a list of 1"),
    (net(layers=[{"units": 2}], params=[{"W": [1, [3, 4]], "b": [0, 0]}]), "params[0].W[1]", "expected a number",
     "a list of 2"),
])
def test_a_number_beside_a_list_is_named_where_it_is(raw, path, expected, got):
    err = assert_refused(raw, path, expected, got)
    assert "lengths" not in str(err)


def test_rows_alike_in_length_but_not_below_name_the_row_and_both_shapes():
    raw = net(data={"X": [[[1, 2], [3, 4]], [[1, 2, 3], [4, 5, 6]]], "Y": [[1], [2]]})
    assert_refused(raw, "data.X[1]", "expected shape (2, 2), as data.X[0] has", "got (2, 3)")


def _param_shape_error(raw):
    return str(refused(raw))


def test_transposed_weights_suggest_the_other_convention():
    for convention, other, given in [("column", "row", [[1, 2, 3], [4, 5, 6]]),
                                     ("row", "column", [[1, 2], [3, 4], [5, 6]])]:
        raw = net(layers=[{"units": 3}], convention=convention, params=[{"W": given, "b": [0, 0, 0]}])
        msg = _param_shape_error(raw)
        expected = (3, 2) if convention == "column" else (2, 3)
        assert "params[0].W" in msg and f"{expected}" in msg and f"{expected[::-1]}" in msg
        assert f'did you mean "convention": "{other}"' in msg


def test_shape_error_path_attribute_names_the_tensor():
    err = refused(net(layers=[{"units": 3}], params=[{"W": [[1, 2, 3], [4, 5, 6]], "b": [0, 0, 0]}]))
    assert err.path == "params[0].W"


def test_flat_weight_list_hint():
    msg = _param_shape_error(net(layers=[{"units": 3}], params=[{"W": [1, 2, 3, 4, 5, 6], "b": [0, 0, 0]}]))
    assert "params[0].W" in msg and "(6,)" in msg and "flat list" in msg and "3 lists of 2 numbers" in msg


@pytest.mark.parametrize("b", [[[1], [2], [3]], [[1, 2, 3]]])
def test_bias_as_a_matrix_hint(b):
    msg = _param_shape_error(net(layers=[{"units": 3}], params=[{"W": [[1, 2]] * 3, "b": b}]))
    assert "params[0].b" in msg and "(3,)" in msg and str(np.shape(b)) in msg
    assert "flat list of 3 numbers" in msg


def test_or_gate_with_per_neuron_weight_lists_is_refused_naming_both_layers():
    raw = dict(SIG221, loss="quadratic",
               params=[{"W": [0.3, 0.4], "b": [1, 1]}, {"W": [0.1], "b": [1]}],
               data={"X": [[0, 0], [0, 1], [1, 0], [1, 1]], "Y": [0, 1, 1, 1]})
    msg = _param_shape_error(raw)
    assert "params[0].W" in msg and "layer 0 W must have shape (2, 2)" in msg and "got (2,)" in msg
    assert "params[1].W" in msg and "layer 1 W must have shape (1, 2)" in msg and "got (1,)" in msg
    assert "params[0].b" not in msg and "params[1].b" not in msg
    # The corrected weights (Nielsen's randn(y, x) shapes) are accepted.
    raw["params"] = [{"W": [[0.3, 0.4], [0.5, 0.6]], "b": [1, 1]}, {"W": [[0.1, 0.2]], "b": [1]}]
    spec = load_spec(raw)
    assert [p["W"].shape for p in spec.params] == [(2, 2), (1, 2)]


@pytest.mark.parametrize(("bias", "entry", "path", "fragment"), [
    ("separate", {"W": [[1, 2]] * 3}, "params[0]", "missing 'b'"),
    ("none", {"W": [[1, 2]] * 3, "b": [0, 0, 0]}, "params[0].b", 'bias "none" has no separate b'),
    ("augmented", {"W": [[1, 2, 3]] * 3, "b": [0, 0, 0]}, "params[0].b", "last column of W"),
])
def test_bias_keys_follow_the_bias_style(bias, entry, path, fragment):
    assert_refused(net(layers=[{"units": 3}], bias=bias, params=[entry]), path, fragment)


def test_augmented_weight_without_the_bias_column():
    msg = _param_shape_error(net(layers=[{"units": 3}], bias="augmented", params=[{"W": [[1, 2]] * 3}]))
    assert "(3, 3)" in msg and "(3, 2)" in msg and "fan_in + 1" in msg


@pytest.mark.parametrize(("key", "rows", "width"), [("X", [[1, 2, 3]] * 2, 2), ("Y", [[1, 2]] * 2, 1)])
def test_data_rows_of_the_wrong_width(key, rows, width):
    data = {"X": [[1, 2]] * 2, "Y": [[1]] * 2, key: rows}
    what = "inputs" if key == "X" else "outputs"
    assert_refused(net(data=data), f"data.{key}", f"one row of {width} {what} per sample", f"rows of {len(rows[0])}")


def test_flat_targets_are_accepted_for_one_output():
    spec = load_spec(dict(SIG221, data={"X": [[0, 0], [0, 1], [1, 0], [1, 1]], "Y": [0, 1, 1, 1]}))
    X, Y = spec.data
    assert X.shape == (4, 2) and Y.shape == (4, 1)
    np.testing.assert_array_equal(Y[:, 0], [0, 1, 1, 1])
    assert spec.n_samples == 4


def test_x_and_y_sample_counts_must_agree():
    assert_refused(net(data={"X": [[1, 2]] * 3, "Y": [[1]] * 2}), "data.Y", "expected 3 samples", "got 2")


def test_batch_must_agree_with_data():
    assert_refused(net(batch=5, data={"X": [[1, 2]] * 3, "Y": [[1]] * 3}), "batch", "batch is 5", "3 samples")
    assert load_spec(net(batch=3, data={"X": [[1, 2]] * 3, "Y": [[1]] * 3})).n_samples == 3


def test_data_decides_the_sample_count_without_batch():
    spec = load_spec(net(data={"X": [[1, 2]] * 7, "Y": [[1]] * 7}))
    assert spec.n_samples == 7
    X, Y = spec.batch_data()
    assert X.shape == (2, 7) and Y.shape == (1, 7)


# -- memory -----------------------------------------------------------------------------

@pytest.mark.parametrize("layers", [[{"units": 10**9}], [{"units": 3}, {"units": 10**6}, {"units": 10**6}]])
def test_huge_layers_are_refused(layers):
    err = refused({"input": 2, "layers": layers})
    assert err.path.startswith("layers[") and err.path.endswith("].units")
    assert "GiB" in str(err) and "smaller" in str(err)


def test_huge_batch_is_refused_naming_batch():
    # The layers are tiny; it is the batch of 10^12 samples that does not fit.
    err = refused(net(batch=10**12))
    assert "GiB" in str(err)
    assert err.path == "batch", str(err)


def test_huge_input_with_huge_batch_is_refused():
    # Random data alone would be X of 10^6 x 10^6 float64 = 8 TB; validation must refuse it
    # before anything is allocated (the weights are only 10^6 numbers).
    err = refused({"input": 10**6, "batch": 10**6, "layers": [{"units": 1}]})
    assert "GiB" in str(err)


# -- files ------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "fragment"), [
    (None, "no such file"),
    ("", "file is empty"),
    ("   \n\t", "file is empty"),
    ("{input: 2}", "not valid JSON"),
    ('{"input": 2, "layers": [{"units": 3}],}', "line 1 column"),
    ("[1, 2, 3]", "expected a JSON object"),
    ("42", "expected a JSON object"),
    (b"\xff\xfe{", "not UTF-8"),
])
def test_bad_files(tmp_path, content, fragment):
    path = tmp_path / "net.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    err = refused(path)
    assert str(err).startswith(f"{path}: ") and fragment in str(err) and "\n" not in str(err)


def test_directory_is_refused(tmp_path):
    err = refused(tmp_path)
    assert "is a directory" in str(err) and str(tmp_path) in str(err)


def test_errors_from_a_file_name_the_file_and_the_path(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(json.dumps(net(layers=[{"units": 0}])))
    err = refused(str(path))
    assert str(err) == f"{path}: layers[0].units: expected a whole number >= 1, got 0"


# -- seeded params and data -------------------------------------------------------------

def _arrays(params):
    return [(k, v) for p in params for k, v in sorted(p.items())]


def test_seeded_params_and_data_are_reproducible():
    a, b = load_spec(net(seed=3)), load_spec(net(seed=3))
    for (ka, va), (kb, vb) in zip(_arrays(a.parameters()), _arrays(b.parameters())):
        assert ka == kb and va.dtype == np.float64
        np.testing.assert_array_equal(va, vb)
    for xa, xb in zip(a.batch_data(), b.batch_data()):
        np.testing.assert_array_equal(xa, xb)
    # The seed argument overrides the spec's seed.
    c = load_spec(net(seed=9))
    for (_, va), (_, vc) in zip(_arrays(a.parameters()), _arrays(c.parameters(seed=3))):
        np.testing.assert_array_equal(va, vc)


def test_different_seeds_differ():
    spec = load_spec(net())
    p0, p1 = spec.parameters(0), spec.parameters(1)
    for (_, v0), (_, v1) in zip(_arrays(p0), _arrays(p1)):
        assert not np.allclose(v0, v1)
    (x0, y0), (x1, y1) = spec.batch_data(0), spec.batch_data(1)
    assert not np.allclose(x0, x1) and not np.allclose(y0, y1)


def test_parameters_are_fresh_copies():
    spec = load_spec(net(layers=[{"units": 1}], params=[{"W": [[1, 2]], "b": [3]}]))
    p = spec.parameters()
    p[0]["W"][0, 0] = 99.0
    assert spec.parameters()[0]["W"][0, 0] == 1.0
    X, _ = load_spec(net(data={"X": [[1, 2]], "Y": [[1]]})).batch_data()
    assert X.dtype == np.float64


def test_random_targets_fit_the_loss():
    ce = load_spec({"input": 2, "layers": [{"units": 4, "activation": "softmax"}], "loss": "cross_entropy",
                    "batch": 30})
    _, Y = ce.batch_data()
    np.testing.assert_array_equal(Y.sum(axis=0), np.ones(30))  # one-hot columns
    assert set(np.unique(Y)) <= {0.0, 1.0}
    bce = load_spec({"input": 2, "layers": [{"units": 3, "activation": "sigmoid"}], "loss": "bce", "batch": 30})
    assert set(np.unique(bce.batch_data()[1])) <= {0.0, 1.0}


def _expected_shapes(convention, bias, fan_in, units):
    """From the README: column W (units, fan_in), row W (fan_in, units); augmented adds the bias column/row."""
    extra = 1 if bias == "augmented" else 0
    W = (units, fan_in + extra) if convention == "column" else (fan_in + extra, units)
    return {"W": W, "b": (units,)} if bias == "separate" else {"W": W}


@pytest.mark.parametrize("bias", ["separate", "none", "augmented"])
@pytest.mark.parametrize("convention", ["column", "row"])
def test_params_layout_per_convention_and_bias(convention, bias):
    sizes = [4, 3, 2]
    spec = load_spec({"input": 4, "layers": [{"units": 3}, {"units": 2}], "convention": convention,
                      "bias": bias, "batch": 5})
    params = spec.parameters()
    for i, (fan_in, units) in enumerate(zip(sizes, sizes[1:])):
        want = _expected_shapes(convention, bias, fan_in, units)
        assert {k: v.shape for k, v in params[i].items()} == want
        assert spec.param_shapes()[i] == want
    names = [(n, i, k, s) for n, i, k, s in spec.param_names()]
    assert [n for n, *_ in names] == (["W0", "b0", "W1", "b1"] if bias == "separate" else ["W0", "W1"])
    assert spec.n_params == sum(math.prod(s) for *_, s in names)
    X, Y = spec.batch_data()
    assert X.shape == ((4, 5) if convention == "column" else (5, 4))
    assert Y.shape == ((2, 5) if convention == "column" else (5, 2))


def test_given_data_is_sample_major_whatever_the_convention():
    data = {"X": [[1, 2], [3, 4], [5, 6]], "Y": [[1], [0], [1]]}
    col = load_spec(net(data=data)).batch_data()
    row = load_spec(net(data=data, convention="row")).batch_data()
    np.testing.assert_array_equal(col[0], np.array(data["X"], float).T)
    np.testing.assert_array_equal(row[0], np.array(data["X"], float))
    np.testing.assert_array_equal(col[1].T, row[1])


def test_given_params_are_used_as_given():
    W = [[0.5, -1.0], [2.0, 0.25], [1.5, 3.0]]
    spec = load_spec(net(layers=[{"units": 3}], params=[{"W": W, "b": [1, 2, 3]}]))
    np.testing.assert_array_equal(spec.parameters()[0]["W"], np.array(W))
    np.testing.assert_array_equal(spec.parameters(seed=5)[0]["b"], [1.0, 2.0, 3.0])


def test_to_dict_round_trips_a_spec_with_data_and_no_batch():
    # The JSON report embeds spec.to_dict(); reading it back must give the same network.
    raw = dict(SIG221, loss="quadratic", params=[{"W": [[1, 2], [3, 4]], "b": [0, 0]}, {"W": [[1, 2]], "b": [0]}],
               data={"X": [[0, 0], [0, 1], [1, 1]], "Y": [0, 1, 1]})
    spec = load_spec(raw)
    again = Spec.from_dict(spec.to_dict())
    assert again.n_samples == 3
    np.testing.assert_array_equal(again.data[0], spec.data[0])
    assert spec.with_(seed=7).seed == 7


def test_seeded_params_and_data_are_drawn_once_and_handed_out_as_fresh_copies(monkeypatch):
    """A small network keeps its seeded draws: every call hands out copies of the same numbers, which a caller may
    change without changing the next call's; the draws are those a spec that keeps nothing makes."""
    import gradcheck.spec.parse as parse

    raw = {"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"units": 2}], "batch": 5, "seed": 7}
    spec = load_spec(raw)
    first, (X, _) = spec.parameters(), spec.batch_data()
    w, x = first[0]["W"][0, 0], X[0, 0]
    first[0]["W"][0, 0], X[0, 0] = w + 1.0, x + 1.0
    again, (X2, Y2) = spec.parameters(), spec.batch_data()
    assert again[0]["W"][0, 0] == w and X2[0, 0] == x
    assert spec.parameters(seed=8)[0]["W"][0, 0] != again[0]["W"][0, 0]
    monkeypatch.setattr(parse, "KEEP_DRAWN", 0)
    fresh = load_spec(raw)
    for kept, drawn in zip(again, fresh.parameters()):
        assert all(np.array_equal(kept[k], drawn[k]) for k in drawn)
    assert all(np.array_equal(a, b) for a, b in zip((X2, Y2), fresh.batch_data()))


def test_a_spec_rebuilt_from_its_fields_after_drawing_is_a_spec():
    """Drawing keeps nothing in the spec itself: ``Spec(**vars(spec))`` still builds one, and its draws are its own
    (the kept draws go with the spec that made them)."""
    spec = load_spec({"input": 2, "layers": [{"units": 3, "activation": "tanh"}, {"units": 1}], "seed": 3})
    drawn = spec.parameters()
    again = spec.__class__(**{**vars(spec), "seed": 4})
    assert again.seed == 4 and not np.array_equal(again.parameters()[0]["W"], drawn[0]["W"])
    assert np.array_equal(spec.__class__(**vars(spec)).parameters()[0]["W"], drawn[0]["W"])
    import gc

    import gradcheck.spec.parse as parse

    key = id(spec)
    assert key in parse._DRAWN
    del spec, again
    gc.collect()
    assert key not in parse._DRAWN  # let go of with the spec
