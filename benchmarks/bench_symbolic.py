"""Time the SymPy derivation (gradcheck.symbolic.derive) against baselines measured in the same run.

    python benchmarks/bench_symbolic.py [--quick]

First table, for each network: derivation time and the first evaluation of the symbolic gradient
on a batch (the forms evaluated node by node, each kind of function lambdified once), later
evaluations, the reference NumPy backprop on the same batch, the largest relative difference
between the two, and the naive approach (write the whole loss out in x, y, w, b, ``sympy.diff`` it
by every parameter, lambdify without common subexpressions). The naive approach runs in a child
process killed after NAIVE_TIMEOUT seconds, and only on the small dense networks. The networks
with other layer kinds (convolution, pooling, norms, dropout) close the table.

Second table, growth: dense nets of growing size, each with SymPy's caches emptied first (as a
fresh process meets it): derive, evaluate, and the whole third opinion as ``check_network`` runs it
(``symbolic="on"`` minus ``symbolic="off"``, mode "full"), CPU and wall, with the time per
parameter; beside them the evaluation the way it was done before, in the same run: one
``sympy.lambdify`` of the whole network's code (z, a, δ as common subexpressions).

Target rows: the largest dense net of the growth table whose third opinion takes at most
TARGET_S seconds of CPU (``--symbolic auto``'s limit, SYMBOLIC_LIMIT, is set from it), and the
53-parameter batchnorm net (whole batch, N = 32) derived in at most BN_TARGET_S. No assertions:
a report.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np
import sympy as sp
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sympy.core.cache import clear_cache

from gradcheck.catalogue import LOSSES
from gradcheck.catalogue.activations import SYMPY_NUMPY
from gradcheck.checks.network import check_network
from gradcheck.reference.backprop import backprop
from gradcheck.spec.parse import load_spec
from gradcheck.symbolic.derive import SYMBOLIC_LIMIT, derive, should_run
from gradcheck.symbolic.evaluate import printer

BATCH = 32
NAIVE_TIMEOUT = 4.0  # seconds per network
NAIVE_MAX_PARAMS = 60
TARGET_S = 1.0  # the whole third opinion of the largest dense net auto runs
BN_TARGET_S = 0.1  # deriving the 53-parameter batchnorm net
GROWTH = [4, 8, 12, 16, 24, 32, 40, 48, 56, 64]  # h of the dense nets h-2h-h-4 (96 to 16,836 params)
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
    (BN_LABEL := "4-5 batchnorm relu 3 (whole batch)", {
        "input": 4, "loss": "cross_entropy", "layers": [
            {"units": 5}, {"type": "batchnorm"}, {"type": "activation", "activation": "relu"},
            {"units": 3, "activation": "softmax"}]}),
    ("lstm 6 steps x 1 -> 3, last h, dense 2", {
        "input": {"steps": 6, "features": 1}, "loss": "mse", "layers": [
            {"type": "lstm", "units": 3, "sequences": False}, {"units": 2}]}),
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


def growth_spec(h):
    return make_spec([h, 2 * h, h, 4], "tanh", "softmax", "cross_entropy")


def timed(fn):
    """(result, CPU s, wall s) of one call."""
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c, time.perf_counter() - w


def lambdified_whole(d):
    """The evaluation as it was done before: the network's code printed and compiled by one sympy.lambdify."""
    steps = d._steps()
    args = [sp.Symbol(s.name) for s in d.net.inputs + [e.symbol for e in d.elements]] + [d.N, d.K]
    return sp.lambdify(args, [e.chain_rule for e in d.elements], modules=[SYMPY_NUMPY, "numpy"],
                       cse=lambda exprs: (steps, exprs), printer=printer())


def third_opinion(spec, repeat):
    """(CPU s, wall s) of check_network's third opinion: symbolic "on" minus "off", SymPy's caches emptied first;
    the best of ``repeat`` by CPU."""
    best = None
    for _ in range(repeat):
        clear_cache()
        _, c_on, w_on = timed(lambda: check_network(spec, symbolic="on", mode="full"))
        _, c_off, w_off = timed(lambda: check_network(spec, symbolic="off", mode="full"))
        pair = (c_on - c_off, w_on - w_off)
        best = pair if best is None or pair[0] < best[0] else best
    return best


def growth(quick):
    rows, within = [], None
    for h in GROWTH[:6] if quick else GROWTH:
        spec = growth_spec(h)
        params, (X, Y) = spec.parameters(), spec.batch_data()
        clear_cache()
        d, c_derive, w_derive = timed(lambda spec=spec: derive(spec, expand="off"))
        _, c_eval, _ = timed(lambda d=d, p=params, X=X, Y=Y: d.gradients(p, X, Y))
        _, c_before, _ = timed(lambda d=d: lambdified_whole(d))
        c_third, w_third = third_opinion(spec, 1 if quick else 2)
        if c_third <= TARGET_S:
            within = spec.n_params
        rows.append([f"{h}-{2 * h}-{h}-4", spec.n_params, f"{c_derive:.3f}", f"{w_derive:.3f}",
                     f"{c_derive / spec.n_params * 1e6:.0f}", f"{c_eval:.3f}", f"{c_before:.3f}",
                     f"{c_before / max(c_eval, 1e-9):.0f}×", f"{c_third:.3f}", f"{w_third:.3f}",
                     f"{c_third / spec.n_params * 1e6:.0f}", "yes" if should_run(spec, "auto")[0] else "no"])
    headers = ["dense net (tanh, softmax)", "params", "derive CPU s", "wall s", "µs/param", "evaluate CPU s",
               "lambdify (before) CPU s", "speed-up", "third opinion CPU s", "wall s", "µs/param",
               f"auto (≤{SYMBOLIC_LIMIT})"]
    print("\nGrowth: SymPy's caches emptied before each net; third opinion = check_network symbolic on − off")
    print(tabulate(rows, headers, disable_numparse=True))
    return within


def targets(within, quick):
    bn = load_spec({**dict(LAYER_NETS)[BN_LABEL], "batch": BATCH, "seed": 1})
    best = None
    for _ in range(3):
        clear_cache()
        _, c, w = timed(lambda: derive(bn, expand="off"))
        best = (c, w) if best is None or c < best[0] else best
    rows = [[f"largest dense net of the growth table with its third opinion ≤ {TARGET_S:g} s CPU",
             "none" if within is None else f"{within:,} params" + (" (--quick: the table's largest)" * quick),
             f"≥ 2,000 params; limit {SYMBOLIC_LIMIT:,}",
             "yes" if within is not None and within >= 2000 else "no"],
            [f"derive the {bn.n_params}-parameter batchnorm net (N = {BATCH}, whole batch)",
             f"{best[0]:.3f} s CPU, {best[1]:.3f} s wall", f"≤ {BN_TARGET_S:g} s",
             "yes" if best[0] <= BN_TARGET_S else "no"]]
    print("\nTargets")
    print(tabulate(rows, ["target", "measured", "wanted", "met"], disable_numparse=True))


def main():
    quick = "--quick" in sys.argv
    start = time.perf_counter()
    warm = growth_spec(2)  # imports, printers, the activations' templates
    derive(warm).gradients(warm.parameters(), *warm.batch_data())
    check_network(warm, symbolic="on", mode="full")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; Python {sys.version.split()[0]}, "
          f"SymPy {sp.__version__}, NumPy {np.__version__}")
    table(quick)
    targets(growth(quick), quick)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; total {time.perf_counter() - start:.1f} s")


def table(quick):
    rows = []
    nets = [("-".join(map(str, sizes)) + f" {hidden}/{out}", make_spec(sizes, hidden, out, loss))
            for sizes, hidden, out, loss in NETS]
    nets += [(label, load_spec({**raw, "batch": BATCH, "seed": 1})) for label, raw in LAYER_NETS]
    for label, spec in nets[:3] + nets[-4:] if quick else nets:
        params, (X, Y) = spec.parameters(), spec.batch_data()
        t_derive, d = best_of(lambda spec=spec: derive(spec, expand="off"), 3)
        t_expand, _ = best_of(lambda spec=spec: derive(spec, expand="on"), 1) if spec.n_params <= 30 else (None, None)
        t = time.perf_counter()
        d.gradients(params, X, Y)
        t_first = time.perf_counter() - t
        t_eval, grads = best_of(lambda d=d, p=params, X=X, Y=Y: d.gradients(p, X, Y), 5)
        t_bp, (_, ref) = best_of(lambda s=spec, p=params, X=X, Y=Y: backprop(s, p, X, Y), 20)
        dense = all(ly.kind == "dense" for ly in spec.layers)
        nv = run_naive(spec, params, X, Y) if dense and not quick else None
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
            f"{t_first * 1e3:.1f}", f"{t_eval * 1e3:.2f}", f"{t_bp * 1e3:.3f}",
            f"{rel_diff(flat(grads), flat(ref)):.1e}", naive_cell,
        ])
    headers = ["net", "params", "layers", f"auto (≤{SYMBOLIC_LIMIT})", "derive ms", "with expanded ms",
               "first eval ms", "eval ms", "backprop ms", "max rel diff", "naive: diff + lambdify/eval"]
    print(f"N = {BATCH} samples; best of several runs (SymPy's caches warm); naive = diff of the fully expanded "
          f"loss, run only up to {NAIVE_MAX_PARAMS} parameters")
    print(tabulate(rows, headers, disable_numparse=True))


if __name__ == "__main__":
    main()
