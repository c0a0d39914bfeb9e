"""BLAS threads per phase of a check: one against two (or as many as there are cores), idle and with a core busy.

Run: ``python benchmarks/bench_threads.py [--repeat 5] [--big]``. For each phase of a check whose
products could gain from threads, times one BLAS thread against all the cores' (set with
threadpoolctl around the phase, interleaved run by run), on the machine as it is and again while
a competing process keeps one core busy. The phases:

* the reference backprop (forward and backward: products of units × fan-in × N);
* the unit lines' products of the first layer, M_p = c_p @ (a/s)^pᵀ (6 products of units × N ×
  fan-in, as :mod:`gradcheck.numeric.unitlines` forms them; its largest products);
* the finite differences (``numeric_gradient``: many products a chunk of perturbed networks wide);
* the whole check (``check_network(symbolic="off", mode="full")`` with ``GRADCHECK_BLAS_THREADS``).

on 784-1024-256-10 (softmax, cross-entropy) with N=32, with N=1024 (the backprop and the products
only, unless ``--big``: its finite differences take about 10 s a run) and a conv network (conv
3×16×16 with 8 filters 3×3 → avgpool → dense, N=4). The gain is one thread's time over the
threads' (above 1: the threads are faster). Best of ``--repeat`` runs and their median.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_layers import BIGGER_CONV  # noqa: E402
from machine import busy, header  # noqa: E402

from gradcheck.checks.network import check_network  # noqa: E402
from gradcheck.numeric.network import numeric_gradient  # noqa: E402
from gradcheck.numeric.unitlines import POWERS  # noqa: E402
from gradcheck.reference.backprop import backprop  # noqa: E402
from gradcheck.spec.parse import load_spec  # noqa: E402


def big(n):
    return load_spec({"input": 784, "layers": [{"units": 1024, "activation": "tanh"},
                                               {"units": 256, "activation": "tanh"},
                                               {"units": 10, "activation": "softmax"}],
                      "loss": "cross_entropy", "batch": n, "seed": 0})


@contextlib.contextmanager
def check_threads_env(n):
    """The whole check with ``n`` threads: through the variable a user would set."""
    before = os.environ.get("GRADCHECK_BLAS_THREADS")
    os.environ["GRADCHECK_BLAS_THREADS"] = str(n)
    try:
        yield
    finally:
        if before is None:
            del os.environ["GRADCHECK_BLAS_THREADS"]
        else:
            os.environ["GRADCHECK_BLAS_THREADS"] = before


def phases(spec, whole):
    """(phase, fn) of ``spec``'s check; ``whole``: the finite differences and the whole check too."""
    params, (X, Y) = spec.parameters(), spec.batch_data()
    Y = spec.targets(Y)
    out = [("reference backprop", lambda: backprop(spec, params, X, Y))]
    ly = spec.layers[0]
    if hasattr(ly, "line_index"):  # a dense first layer: its unit lines' products
        rng = np.random.default_rng(0)
        n, units, rows = len(Y.T), ly.units, ly.fan_in + 1
        coef, powers = rng.standard_normal((len(POWERS), units, n)), rng.standard_normal((len(POWERS), rows, n))
        flops = 2 * len(POWERS) * units * n * rows
        out.append((f"unit lines' products, 6 × ({units}×{n} @ {n}×{rows}), {flops / 1e6:.0f} Mflop",
                    lambda: coef @ np.swapaxes(powers, 1, 2)))
    if whole:
        out.append(("finite differences (numeric_gradient)", lambda: numeric_gradient(spec, params, X, Y)))
        out.append(("the whole check (check_network)", lambda: check_network(spec, symbolic="off", mode="full")))
    return out


def measure(fn, threads, repeat, whole_check):
    """{threads: [seconds of each run]}, the thread counts interleaved run by run."""
    times = {n: [] for n in threads}
    for _ in range(repeat):
        for n in threads:
            scope = check_threads_env(n) if whole_check else threadpool_limits(n, "blas")
            with scope:
                t0 = time.perf_counter()
                fn()
                times[n].append(time.perf_counter() - t0)
    return times


def rows_for(label, spec, whole, repeat, cores):
    rows = []
    for load, context in (("as it is", contextlib.nullcontext), ("one core busy", busy)):
        with context():
            for phase, fn in phases(spec, whole):
                reps = repeat if "whole" not in phase and "finite" not in phase else max(1, repeat // 2 + 1)
                times = measure(fn, (1, cores), reps, whole_check="whole" in phase)
                one, many = times[1], times[cores]
                rows.append([label, phase, load, f"{min(one) * 1e3:.2f}", f"{min(many) * 1e3:.2f}",
                             f"{min(one) / min(many):.2f}", f"{np.median(one) / np.median(many):.2f}"])
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs of each phase (the slow ones: about half)")
    ap.add_argument("--big", action="store_true", help="the finite differences and the whole check at N=1024 too")
    args = ap.parse_args(argv)
    cores = os.cpu_count() or 2
    print("\n".join(header()) + "\n")
    rows = rows_for("784-1024-256-10, N=32", big(32), True, args.repeat, cores)
    rows += rows_for("784-1024-256-10, N=1024", big(1024), args.big, args.repeat, cores)
    rows += rows_for("conv 3×16×16, 8 filters → avgpool → dense, N=4", load_spec(BIGGER_CONV), True, args.repeat,
                     cores)
    print(f"BLAS threads per phase: 1 against {cores}; gain = one thread's time / {cores} threads' (above 1: the "
          "threads are faster)")
    print(tabulate(rows, ["network", "phase", "machine", "1 thread ms", f"{cores} threads ms", "gain (best)",
                          "gain (median)"], disable_numparse=True))


if __name__ == "__main__":
    main()
