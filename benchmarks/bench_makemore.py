"""makemore's character MLP at full size: the full check against a per-element loop, measured in one run.

Run: ``python benchmarks/bench_makemore.py``. The network is the one of makemore's manual
backprop exercise: token ids of a context of 3 characters (vocabulary 27), an embedding
table C (27, 10), flatten, dense 30 -> 200, batchnorm, tanh, dense 200 -> 27 softmax with
cross-entropy, N = 32 (12,297 params). Prints one table:

* the baseline: a Python loop over the elements, two forward passes each (central
  differences, as a per-element checker does), with gradcheck's vectorised forward pass;
* gradcheck's finite differences alone (``numeric_gradient``, default method and steps),
  structured (the default) and plain (``structured=False``), and the embedding table's
  elements alone in each mode;
* the full check (``check_network``: reference backprop, finite differences with their
  error bounds, the comparison; SymPy skips a network this size): target at most 0.5 s.

Each time is the best of ``--repeat`` runs, wall clock and CPU (user + system of this process:
what the wall time is on an idle machine, as these machines are shared); accuracy is the
largest relative error against the reference backprop, over the elements above 1e-8 of the
largest (the hidden layer's bias has a gradient of 0 up to rounding: batchnorm subtracts it).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_numeric import loop_gradient  # noqa: E402

from gradcheck.checks.network import check_network  # noqa: E402
from gradcheck.numeric.network import numeric_gradient  # noqa: E402
from gradcheck.reference.backprop import backprop  # noqa: E402
from gradcheck.spec.parse import load_spec  # noqa: E402

MAKEMORE = {"name": "makemore_full", "input": {"steps": 3, "vocab": 27}, "batch": 32, "seed": 42,
            "layers": [{"type": "embedding", "dim": 10}, {"type": "flatten"}, {"type": "dense", "units": 200},
                       {"type": "batchnorm"}, {"type": "activation", "activation": "tanh"},
                       {"type": "dense", "units": 27, "activation": "softmax"}],
            "loss": "cross_entropy", "convention": "row", "bias": "separate"}
TARGET = 0.5


def rel_error(grads, ref, layers=None):
    """Largest |g − r| / max(|g|, |r|) over the elements of ``layers`` (all if None) whose |r| is above 1e-8 of the
    largest."""
    chosen = [i for i in range(len(ref)) if layers is None or i in layers]
    scale = max(float(np.abs(ref[i][k]).max()) for i in chosen for k in ref[i])
    worst = 0.0
    for i in chosen:
        for k in ref[i]:
            a, b = np.asarray(grads[i][k]), np.asarray(ref[i][k])
            big = np.abs(b) > 1e-8 * scale
            if big.any():
                worst = max(worst, float(np.max(np.abs(a - b)[big] / np.maximum(np.abs(a), np.abs(b))[big])))
    return worst


def timed(fn, repeat):
    """(best wall seconds, best CPU seconds, the last result) of ``repeat`` runs."""
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    return wall, cpu, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    args = ap.parse_args(argv)
    spec = load_spec(MAKEMORE)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    n = spec.n_params
    table = spec.param_shapes()[0]
    only_table = [{k: np.arange(int(np.prod(s))) for k, s in shapes.items()} if i == 0 else
                  {k: np.zeros(0, dtype=int) for k in shapes} for i, shapes in enumerate(spec.param_shapes())]
    rows = []

    def row(label, count, fn, repeat, layers=None, vs_loop=True):
        wall, cpu, out = timed(fn, repeat)
        grads = getattr(out, "grads", out)
        err = rel_error(grads, ref, layers) if isinstance(grads, list) else None
        rows.append([label, count, wall, cpu, loop[1] / cpu if vs_loop and loop else None, err])
        return out

    loop = None
    row("per-element loop, two forward passes each (baseline)", n,
        lambda: loop_gradient(spec, [{k: v.copy() for k, v in p.items()} for p in params], X, Y), 1)
    loop = rows[0][2:4]
    rows[0][4] = 1.0
    for label, kwargs in (("structured (default)", {}), ("plain", {"structured": False})):
        row(f"finite differences, {label}", n, lambda kw=kwargs: numeric_gradient(spec, params, X, Y, **kw),
            1 if kwargs else args.repeat)  # the plain mode takes as long as the loop: once
    for label, kwargs in (("structured", {}), ("plain", {"structured": False})):
        row(f"the embedding table {table['W']} alone, {label}", int(np.prod(table["W"])),
            lambda kw=kwargs: numeric_gradient(spec, params, X, Y, elements=only_table, **kw), args.repeat,
            layers={0}, vs_loop=False)
    result = row(f"full check, every element (target {TARGET} s)", n,
                 lambda: check_network(spec, mode="full"), args.repeat)
    rows[-1][0] += f": {'PASS' if result.passed else 'FAIL'}"
    print(tabulate(rows, ["makemore MLP 27·10, 30-200-27, N=32", "params", "wall s", "CPU s", "vs loop (CPU)",
                          "max rel err"], floatfmt=("", "", ".3f", ".3f", ".1f", ".1e"), missingval=""))


if __name__ == "__main__":
    main()
