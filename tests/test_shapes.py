"""The shape trace agrees with the arrays backprop produces, and its equations are runnable NumPy."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest
from oracles import BIASES, CONVENTIONS

from gradcheck import forward, load_spec, trace_shapes
from gradcheck.catalogue import ACTIVATIONS
from gradcheck.reference.backprop import backprop  # the function (gradcheck.reference.backprop is also its module)
from gradcheck.reference.shapetext import fmt_shape

# (hidden activation, output activation, loss): every activation appears, softmax with cross-entropy.
NETS = [("sigmoid", "linear", "mse"), ("relu", "softmax", "cross_entropy"), ("tanh", "sigmoid", "bce"),
        ("leaky_relu", "softplus", "quadratic"), ("softplus", "tanh", "sse")]


def make(convention="column", bias="separate", sizes=(2, 3, 4), acts=("sigmoid", "linear"), loss="mse", batch=4):
    return load_spec({"input": sizes[0], "layers": [{"units": u, "activation": a} for u, a in zip(sizes[1:], acts)],
                      "loss": loss, "convention": convention, "bias": bias, "batch": batch})


def concrete(shape, n):
    return tuple(n if d == "N" else d for d in shape)


def actual_shapes(spec, n):
    """Shapes of every quantity from a real forward/backprop on a batch of n samples."""
    params = spec.parameters()
    X = np.random.default_rng(0).normal(size=spec.conv.batch(spec.input, n))
    Y = np.full(spec.conv.batch(spec.output, n), 1.0 / spec.output)
    fw = forward(spec, params, X)
    _, grads = backprop(spec, params, X, Y)
    out = []
    for i, (p, g) in enumerate(zip(params, grads)):
        a_prev = X if i == 0 else fw.a[i - 1]
        shapes = {"a_prev": a_prev.shape, "W": p["W"].shape, "z": fw.z[i].shape, "a": fw.a[i].shape,
                  # δ = ∂C/∂z has z's shape by definition.
                  "delta": fw.z[i].shape, "dW": g["W"].shape}
        if "b" in p:
            shapes.update(b=p["b"].shape, db=g["b"].shape)
        out.append(shapes)
    return out


@pytest.mark.parametrize(("hidden", "output", "loss"), NETS)
@pytest.mark.parametrize("bias", BIASES)
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_trace_agrees_with_real_arrays(convention, bias, hidden, output, loss):
    spec = make(convention, bias, (3, 5, 2), (hidden, output), loss)
    trace = trace_shapes(spec)
    n = 7
    real = actual_shapes(spec, n)
    assert len(trace.layers) == len(real) == 2
    for ly, want in zip(trace.layers, real):
        assert set(ly.shapes) == set(want)
        for q, (_, batched) in ly.shapes.items():
            assert concrete(batched, n) == tuple(want[q]), f"layer {ly.index} {q}"
    assert trace.convention == convention and trace.bias == bias


@pytest.mark.parametrize("bias", BIASES)
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_per_sample_shapes_are_the_batched_ones_with_n_1(convention, bias):
    spec = make(convention, bias, (4, 3, 2), ("tanh", "sigmoid"), "bce")
    real = actual_shapes(spec, 1)
    for ly, want in zip(trace_shapes(spec).layers, real):
        for q, (sample, batched) in ly.shapes.items():
            assert tuple(sample) == tuple(want[q]) == concrete(batched, 1), f"layer {ly.index} {q}"


@pytest.mark.parametrize("bias", BIASES)
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_gradients_have_the_params_shapes_in_the_trace(convention, bias):
    spec = make(convention, bias, (2, 3, 4))
    for ly, shapes in zip(trace_shapes(spec).layers, spec.param_shapes()):
        assert ly.shapes["dW"][1] == ly.shapes["W"][1] == tuple(shapes["W"])
        if bias == "separate":
            assert ly.shapes["db"][1] == ly.shapes["b"][1] == tuple(shapes["b"])
        else:
            assert "db" not in ly.shapes and "b" not in ly.shapes


def _substitute(step, n):
    """``step.expr`` with every operand replaced by a variable holding 0.5s of its (concrete) shape."""
    names = sorted(step.operands, key=len, reverse=True)
    env = {}

    def var(m):
        key = f"v{names.index(m.group(1))}"
        env[key] = np.full(concrete(step.operands[m.group(1)], n), 0.5)
        return key
    pattern = r"(?<![\w.'])(" + "|".join(re.escape(nm) for nm in names) + r")(?![\w(])"
    return re.sub(pattern, var, step.expr), env


@pytest.mark.parametrize(("hidden", "output", "loss"), NETS)
@pytest.mark.parametrize("bias", BIASES)
@pytest.mark.parametrize("convention", CONVENTIONS)
def test_every_equation_is_numpy_that_gives_the_recorded_shape(convention, bias, hidden, output, loss):
    """Evaluate each step's expression on arrays of the operands' shapes: the result has the recorded shape.

    N = 7 differs from every width, so a missing transpose or a sum without keepdims shows up.
    """
    spec = make(convention, bias, (3, 5, 4), (hidden, output), loss)
    n, k = 7, spec.output
    identity = {a: (lambda z, **params: z) for a in ACTIVATIONS}  # a configured one: leaky_relu(z, slope=0.01)
    for step in trace_shapes(spec).steps():
        expr, env = _substitute(step, n)
        result = eval(expr, {"np": np, "N": n, "K": k, **identity}, env)
        assert np.shape(result) == concrete(step.result, n), f"layer {step.layer}: {step.equation()}"


def test_equations_read_as_documented_column():
    spec = load_spec({"input": 2, "layers": [{"units": 3, "activation": "sigmoid"}]})
    eqs = {s.name: s.equation() for s in trace_shapes(spec).steps()}
    assert eqs["dW"] == "dW = delta @ a_prev.T : (3,N) @ (N,2) -> (3,2)"
    assert eqs["z"] == "z = W @ a_prev + b[:, None] : (3,2) @ (2,N) + (3,1) -> (3,N)"
    assert eqs["db"] == "db = delta.sum(axis=1) : (3,N).sum(axis=1) -> (3,)"
    assert eqs["da_prev"] == "da_prev = W.T @ delta : (2,3) @ (3,N) -> (2,N)"
    assert eqs["delta"] == "delta = da * sigmoid'(z) : (3,N) * (3,N) -> (3,N)"


def test_equations_read_as_documented_row():
    spec = load_spec({"input": 2, "layers": [{"units": 3, "activation": "tanh"}], "convention": "row"})
    eqs = {s.name: s.equation() for s in trace_shapes(spec).steps()}
    assert eqs["dW"] == "dW = a_prev.T @ delta : (2,N) @ (N,3) -> (2,3)"
    assert eqs["z"] == "z = a_prev @ W + b : (N,2) @ (2,3) + (3,) -> (N,3)"
    assert eqs["db"] == "db = delta.sum(axis=0) : (N,3).sum(axis=0) -> (3,)"
    assert eqs["da_prev"] == "da_prev = delta @ W.T : (N,3) @ (3,2) -> (N,2)"


def test_equations_for_the_augmented_bias():
    col = {s.name: s.equation() for s in trace_shapes(make("column", "augmented", (2, 3), ("linear",))).steps()}
    assert col["a_in"] == "a_in = np.vstack([a_prev, ones]) : np.vstack([(2,N), (1,N)]) -> (3,N)"
    assert col["dW"] == "dW = delta @ a_in.T : (3,N) @ (N,3) -> (3,3)"
    assert col["da_prev"] == "da_prev = W[:, :-1].T @ delta : (2,3) @ (3,N) -> (2,N)"
    row = {s.name: s.equation() for s in trace_shapes(make("row", "augmented", (2, 3), ("linear",))).steps()}
    assert row["a_in"] == "a_in = np.hstack([a_prev, ones]) : np.hstack([(N,2), (N,1)]) -> (N,3)"
    assert row["dW"] == "dW = a_in.T @ delta : (3,N) @ (N,3) -> (3,3)"


def test_step_order_forward_then_backward_from_the_output():
    spec = make("column", "separate", (2, 3, 4, 1), ("tanh", "relu", "sigmoid"))
    trace = trace_shapes(spec)
    fw, bw = trace.steps("forward"), trace.steps("backward")
    assert trace.steps() == fw + bw
    assert [s.layer for s in fw] == sorted(s.layer for s in fw)
    assert [s.layer for s in bw] == sorted((s.layer for s in bw), reverse=True)
    assert bw[0].name == "da" and bw[0].layer == 2
    assert [s.name for s in bw if s.layer == 0] == ["delta", "dW", "db", "da_prev"]
    assert {s.phase for s in fw} == {"forward"} and {s.phase for s in bw} == {"backward"}


def test_trace_needs_no_params_and_ignores_their_values():
    raw = {"input": 2, "layers": [{"units": 2, "activation": "sigmoid"}, {"units": 1, "activation": "sigmoid"}]}
    bare = trace_shapes(load_spec(raw))
    given = trace_shapes(load_spec({**raw, "params": [{"W": [[1, 2], [3, 4]], "b": [1, 1]}, {"W": [[5, 6]], "b": [1]}],
                                    "data": {"X": [[0, 0], [1, 1], [0, 1]], "Y": [0, 1, 1]}}))
    assert bare.to_json() == given.to_json()


def test_delta_is_per_unit_not_per_weight():
    # Nielsen's OR gate: δ of the one output unit is one number per sample, though W1 has two weights.
    spec = load_spec({"input": 2, "layers": [{"units": 2, "activation": "sigmoid"},
                                             {"units": 1, "activation": "sigmoid"}]})
    out = trace_shapes(spec).layers[1].shapes
    assert out["delta"] == ((1, 1), (1, "N")) and out["W"][1] == (1, 2) and out["db"][1] == out["b"][1] == (1,)


def test_to_json_is_the_same_trace_as_strings():
    spec = make("row", "separate")
    trace = trace_shapes(spec)
    doc = trace.to_json()
    assert doc["convention"] == "row" and doc["bias"] == "separate" and len(doc["layers"]) == 2
    for ly, jl in zip(trace.layers, doc["layers"]):
        assert jl["layer"] == ly.index and jl["steps"] == [s.equation() for s in ly.steps]
        assert jl["shapes"] == {q: {"sample": fmt_shape(s), "batch": fmt_shape(b)} for q, (s, b) in ly.shapes.items()}
    assert doc["layers"][0]["shapes"]["dW"] == {"sample": "(2,3)", "batch": "(2,3)"}
    assert doc["layers"][0]["shapes"]["z"] == {"sample": "(1,3)", "batch": "(N,3)"}


@pytest.mark.parametrize(("shape", "text"), [((3, "N"), "(3,N)"), ((3,), "(3,)"), ((), "()"), (("N", 2, 1), "(N,2,1)")])
def test_fmt_shape(shape, text):
    assert fmt_shape(shape) == text


def test_tracing_a_wide_layer_costs_memory_linear_in_the_network():
    """The dummy batch is N = 2 + the widest layer, so a 1 -> 1500 layer traces on (1500, 1502) arrays.

    The network has 3000 numbers (24 KB); tracing its shapes should not take more than a few MB.
    At 30 000 units the same trace asks for tens of GB (exit 3: MemoryError) though the spec passes
    validation.
    """
    spec = make("column", "separate", (1, 1500), ("sigmoid",))
    tracemalloc.start()
    try:
        trace_shapes(spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20, f"trace_shapes peaked at {peak / 2**20:.0f} MiB for a 3000-parameter network"
