"""Time the SymPy derivation (gradcheck.symbolic.derive) against baselines measured in the same run.

    python benchmarks/bench_symbolic.py

For each network: derivation time, lambdify time and evaluation time of the symbolic
gradient on a batch, the reference NumPy backprop on the same batch, the largest
relative difference between the two, and the naive approach (write the whole loss out
in x, y, w, b, ``sympy.diff`` it by every parameter, lambdify without common
subexpressions). The naive approach runs in a child process killed after
NAIVE_TIMEOUT seconds, and only on the small dense networks. The networks with other
layer kinds (convolution, pooling, norms, dropout) close the table. No assertions: a report.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np
import sympy as sp
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradcheck.catalogue import LOSSES
from gradcheck.catalogue.activations import SYMPY_NUMPY
from gradcheck.reference.backprop import backprop
from gradcheck.spec.parse import load_spec
from gradcheck.symbolic.derive import SYMBOLIC_LIMIT, derive, should_run

BATCH = 32
NAIVE_TIMEOUT = 4.0  # seconds per network
NAIVE_MAX_PARAMS = 60
NETS = [  # sizes, hidden activation, output activation, loss
    ([2, 2, 1], "sigmoid", "sigmoid", "mse"),
    ([2, 3, 2], "sigmoid", "sigmoid", "mse"),
    ([2, 3, 3], "tanh", "softmax", "cross_entropy"),
    ([4, 8, 4], "relu", "linear", "sse"),
    ([8, 16, 4], "tanh", "sigmoid", "bce"),
    ([16, 16, 4], "sigmoid", "softmax", "cross_entropy"),
    ([2, 2, 2, 2], "sigmoid", "sigmoid", "mse"),
    ([2, 2, 2, 2, 2], "sigmoid", "sigmoid", "mse"),
    ([2, 2, 2, 2, 2, 2, 2], "sigmoid", "sigmoid", "mse"),
    ([4, 4, 4, 4, 4], "sigmoid", "sigmoid", "mse"),
    ([8, 16, 16, 16, 4], "tanh", "linear", "quadratic"),
]


LAYER_NETS = [  # networks with other layer kinds (no naive baseline: it writes dense layers only)
    ("tiny CNN 1x6x6 conv2 relu, maxpool, dense 3", {
        "input": [1, 6, 6], "loss": "cross_entropy", "layers": [
            {"type": "conv2d", "filters": 2, "kernel": 3, "activation": "relu"}, {"type": "maxpool2d", "size": 2},
            {"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}]}),
    ("CNN 2x7x7 conv3 p1 relu, conv2 s2 p1, maxpool, dense 3", {
        "input": [2, 7, 7], "loss": "cross_entropy", "layers": [
            {"type": "conv2d", "filters": 3, "kernel": 3, "padding": 1, "activation": "relu"},
            {"type": "conv2d", "filters": 2, "kernel": 3, "stride": 2, "padding": 1}, {"type": "maxpool2d", "size": 2},
            {"type": "flatten"}, {"type": "dense", "units": 3, "activation": "softmax"}]}),
    ("4-5 batchnorm relu 3 (whole batch)", {
        "input": 4, "loss": "cross_entropy", "layers": [
            {"units": 5}, {"type": "batchnorm"}, {"type": "activation", "activation": "relu"},
            {"units": 3, "activation": "softmax"}]}),
    ("4-6 tanh layernorm dropout 2", {
        "input": 4, "loss": "mse", "layers": [
            {"units": 6, "activation": "tanh"}, {"type": "layernorm"}, {"type": "dropout", "p": 0.5}, {"units": 2}]}),
]


def make_spec(sizes, hidden, out, loss):
    acts = [hidden] * (len(sizes) - 2) + [out]
    return load_spec({"input": sizes[0], "layers": [{"units": u, "activation": a} for u, a in zip(sizes[1:], acts)],
                      "loss": loss, "batch": BATCH, "seed": 1})


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def flat(grads):
    return np.concatenate([g[k].ravel() for g in grads for k in g])


def rel_diff(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def naive(spec, params, X, Y, queue):
    """Differentiate the fully expanded per-sample loss by every parameter (in a child process)."""
    t0 = time.perf_counter()
    d = derive(spec, expand="off")  # only for the symbols
    a = d.x
    for ly, p in zip(spec.layers, d.params):
        a = ly.act.symbolic(ly.layer.symbolic_z({"W": p["W"], "b": p.get("b")}, a, spec.conv, spec.bias))
    loss = LOSSES[spec.loss].sample_term(a, d.y, d.N, d.K)
    thetas = [e.symbol for e in d.elements]
    exprs = [sp.diff(loss, th) for th in thetas]
    t1 = time.perf_counter()
    fn = sp.lambdify(d.x + d.y + thetas + [d.N, d.K], exprs, modules=[SYMPY_NUMPY, "numpy"])
    values = [float(p[k][i]) for p, s in zip(params, spec.param_shapes()) for k, sh in s.items()
              for i in np.ndindex(*sh)]
    Xs, Ys = spec.conv.to_samples(X), spec.conv.to_samples(Y)
    out = fn(*Xs.T, *Ys.T, *values, len(Xs), spec.output)
    grads = np.array([np.sum(np.broadcast_to(v, (len(Xs),))) for v in out])
    queue.put((t1 - t0, time.perf_counter() - t1, grads, max(sp.count_ops(e) for e in exprs)))


def run_naive(spec, params, X, Y):
    if spec.n_params > NAIVE_MAX_PARAMS:
        return None
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=naive, args=(spec, params, X, Y, queue), daemon=True)
    proc.start()
    try:
        result = queue.get(timeout=NAIVE_TIMEOUT)
    except Exception:  # queue.Empty: took too long
        result = "timeout"
    if proc.is_alive():
        proc.terminate()  # our own child, by handle
    proc.join()
    return result


def main():
    rows = []
    start = time.perf_counter()
    derive(make_spec([1, 1], "linear", "linear", "sse"))._compile()  # warm up imports and printers
    nets = [("-".join(map(str, sizes)) + f" {hidden}/{out}", make_spec(sizes, hidden, out, loss))
            for sizes, hidden, out, loss in NETS]
    nets += [(label, load_spec({**raw, "batch": BATCH, "seed": 1})) for label, raw in LAYER_NETS]
    for label, spec in nets:
        params, (X, Y) = spec.parameters(), spec.batch_data()
        t_derive, d = best_of(lambda spec=spec: derive(spec, expand="off"), 3)
        t_expand, _ = best_of(lambda spec=spec: derive(spec, expand="on"), 1) if spec.n_params <= 30 else (None, None)
        t = time.perf_counter()
        d._compile()
        t_lambdify = time.perf_counter() - t
        t_eval, grads = best_of(lambda d=d, p=params, X=X, Y=Y: d.gradients(p, X, Y), 5)
        t_bp, (_, ref) = best_of(lambda s=spec, p=params, X=X, Y=Y: backprop(s, p, X, Y), 20)
        dense = all(ly.kind == "dense" for ly in spec.layers)
        nv = run_naive(spec, params, X, Y) if dense else None
        if nv is None:
            naive_cell = "skipped"
        elif nv == "timeout":
            naive_cell = f"> {NAIVE_TIMEOUT:.0f} s (killed)"
        else:
            naive_cell = (f"{nv[0]:.3f} + {nv[1]:.3f} s, ops {nv[3]}, "
                          f"Δ {rel_diff(nv[2], flat(ref)):.0e}")
        rows.append([
            label, spec.n_params, len(spec.layers),
            "yes" if should_run(spec, "auto")[0] else "no",
            f"{t_derive * 1e3:.1f}", "-" if t_expand is None else f"{t_expand * 1e3:.1f}",
            f"{t_lambdify * 1e3:.1f}", f"{t_eval * 1e3:.2f}", f"{t_bp * 1e3:.3f}",
            f"{rel_diff(flat(grads), flat(ref)):.1e}", naive_cell,
        ])
    headers = ["net", "params", "layers", f"auto (≤{SYMBOLIC_LIMIT})", "derive ms", "with expanded ms",
               "lambdify ms", "eval ms", "backprop ms", "max rel diff", "naive: diff + lambdify/eval"]
    print(f"N = {BATCH} samples; best of several runs; naive = diff of the fully expanded loss, "
          f"run only up to {NAIVE_MAX_PARAMS} parameters")
    print(tabulate(rows, headers, disable_numparse=True))
    print(f"total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
