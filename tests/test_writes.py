"""The line tracer sees writes into arrays (slices, +=, in-place calls) and names what they reveal."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gradcheck import check_function, check_layer
from gradcheck.diagnose.linetrace import trace_call

IMPLS = Path(__file__).parent / "impls"
sys.path.insert(0, str(IMPLS))
import writes  # noqa: E402

POOL = {"pool_height": 2, "pool_width": 2, "stride": 1}  # windows overlap


def _line_of(marker, path=IMPLS / "writes.py"):
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if marker in line)


def _pool(backward, pool=POOL):
    x = np.random.default_rng(3).normal(size=(2, 2, 5, 5))
    return check_layer(writes.max_pool_forward, backward, x, pool)


def test_an_assignment_into_overlapping_windows_is_named():
    result = _pool(writes.max_pool_backward_overwritten)
    assert not result.passed
    line = _line_of("dx[:, :, i * s:i * s + ph, j * s:j * s + pw] = mask")
    text = " | ".join(result.diagnosis)
    assert f"your line writes.py:{line}" in text and "assigns into parts of dx that overlap" in text, text
    assert "add into them (`+=`)" in text


def test_adding_into_overlapping_windows_passes_and_names_nothing():
    result = _pool(writes.max_pool_backward)
    assert result.passed and not any("overlap" in d for d in result.diagnosis + result.notes)


def test_an_assignment_into_windows_that_do_not_overlap_is_no_cause():
    lt = trace_call(writes.max_pool_backward_overwritten, np.ones((1, 1, 2, 2)),
                    (np.random.default_rng(0).normal(size=(1, 1, 4, 4)), {"pool_height": 2, "pool_width": 2,
                                                                           "stride": 2}))
    assert lt.writes == [] and any(ln.source.startswith("dx[") for ln in lt.lines)


def test_a_fancy_add_with_repeated_indices_is_named():
    W, ids = np.random.default_rng(4).normal(size=(5, 3)), [1, 2, 1, 4]
    result = check_layer(writes.embedding_forward, writes.embedding_backward_buffered, W, ids)
    assert not result.passed
    line = _line_of("    dW[ids] += dout")
    text = " | ".join(result.diagnosis)
    assert f"your line writes.py:{line} `dW[ids] += dout` adds with repeated indices (4 indices, 3 distinct)" in text
    assert "np.add.at(dW, ids, dout)" in text


def test_np_add_at_with_repeated_indices_passes():
    W, ids = np.random.default_rng(4).normal(size=(5, 3)), [1, 2, 1, 4]
    result = check_layer(writes.embedding_forward, writes.embedding_backward, W, ids, explain=True)
    assert result.passed and result.line_trace is not None
    row = next(ln for ln in result.line_trace.lines if "np.add.at" in ln.source)
    assert row.shape_text() == "dW (in place) (5,3)"


def test_a_write_into_a_slice_is_a_line_of_the_trace():
    lt = trace_call(writes.rnn_dx, np.ones((2, 3, 4)), np.ones((5, 4)))
    row = next(ln for ln in lt.lines if ln.source.startswith("dx[:, t] ="))
    assert row.shape_text() == "dx[…] (2,3,5)"


def test_negative_ids_of_the_same_row_are_repeated_indices():
    W = np.zeros((5, 3))
    lt = trace_call(writes.embedding_backward_buffered, np.ones((3, 3)), (W, np.array([-1, 4, 0])))
    assert any("adds with repeated indices (3 indices, 2 distinct)" in s for s in lt.sentences()), lt.sentences()
    assert not any("repeated" in s for s in trace_call(writes.embedding_backward_buffered, np.ones((3, 3)),
                                                       (W, [-1, 3, 0])).sentences())


def test_a_broadcast_inside_an_expression_is_named():
    lt = trace_call(writes.centred, np.ones((6, 1)), np.ones(6))
    assert lt.sentences()[0].endswith("broadcast silently: `a - y`: (6,1) − (6,) broadcast to (6,6); make the shapes "
                                      "agree (e.g. reshape y to (6,1))")
    assert trace_call(writes.centred, np.ones((6, 1)), np.ones((6, 1))).broadcasts == []


def test_a_broadcast_of_an_attribute_or_a_dict_entry_is_named():
    loss = writes.SquaredError(np.ones((4, 1)))
    loss.forward(np.ones((6, 1)), np.ones(6))
    lt = trace_call(loss.backward, np.ones(6))
    assert lt.sentences()[0].endswith("`self.cache['a'] - y`: (6,1) − (6,) broadcast to (6,6); make the shapes agree "
                                      "(e.g. reshape y to (6,1))"), lt.sentences()
    assert trace_call(loss.backward, np.ones((6, 1))).broadcasts == []
    assert trace_call(loss.scaled, np.ones((6, 1))).broadcasts == []  # an outer product of an attribute's .T


def test_an_outer_product_by_broadcasting_is_no_silent_broadcast():
    def outer(delta, a_prev):
        return delta * a_prev.T  # (3, 1) * (1, 4) -> (3, 4), deliberately

    assert trace_call(outer, np.ones((3, 1)), np.ones((4, 1))).broadcasts == []


def test_explain_shows_the_lines_of_a_passing_function():
    x = np.array([1.0, -2.0, 3.0])
    plain = check_function(lambda x: np.sum(x ** 2), writes_grad, x)
    explained = check_function(lambda x: np.sum(x ** 2), writes_grad, x, explain=True)
    assert plain.passed and plain.line_trace is None
    assert explained.passed and [ln.source for ln in explained.line_trace.lines] == ["g = np.zeros_like(x)",
                                                                                     "g[:] = 2 * x"]


def writes_grad(x):
    g = np.zeros_like(x)
    g[:] = 2 * x
    return g


def test_the_cli_explains_a_passing_impl(tmp_path, capsys):
    import json

    from gradcheck.cli import main

    spec = tmp_path / "net.json"
    spec.write_text(json.dumps({"input": 3, "layers": [{"units": 1, "activation": "linear"}], "loss": "mse",
                                "convention": "row", "batch": 6}))
    impl = f"{IMPLS / 'regression.py'}:correct"
    assert main([str(spec), "--impl", impl, "--symbolic", "off"]) == 0
    assert "Your code, line by line" not in capsys.readouterr().out
    assert main([str(spec), "--impl", impl, "--symbolic", "off", "--explain"]) == 0
    out = capsys.readouterr().out
    row = next(r for r in out[out.index("Your code, line by line"):].splitlines() if "err = pred - Y" in r)
    assert "err (6,1)" in row


def test_a_shape_two_returned_arrays_share_is_attributed_to_no_line():
    def two(x):
        a = x.sum(axis=0, keepdims=True)
        b = (2 * x).sum(axis=0, keepdims=True)
        return a, b

    def one(x):
        a = x.sum(axis=0, keepdims=True)
        return a, x

    assert not any("is made at" in s for s in trace_call(two, np.ones((4, 3))).sentences({"db": (1, 3)}))
    assert any("db (1,3) is made at your line" in s and "`a = x.sum(axis=0, keepdims=True)`" in s
               for s in trace_call(one, np.ones((4, 3))).sentences({"db": (1, 3)}))


def multi_line_write(dout, W):
    dW = np.zeros_like(W)
    dW[[0, 1, 0]] += (dout
                      * 1.0)
    return dW


def test_a_write_that_spans_lines_is_read_whole():
    lt = trace_call(multi_line_write, np.ones((3, 2)), np.ones((4, 2)))
    assert any("`dW[[0, 1, 0]] += (dout` adds with repeated indices (3 indices, 2 distinct)" in s
               for s in lt.sentences()), lt.sentences()
