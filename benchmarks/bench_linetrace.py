"""The line tracer's cost: a failing check with the user's code traced vs the same check without.

Run: ``python benchmarks/bench_linetrace.py``. For each wrong backprop in the style of
tests/impls/ (Nielsen's per-sample loop behind an adapter, CS231n-style batched code at
two sizes), it times, in the same run:

- the whole check (``check_network(..., trace_code=True)``, what the CLI runs) against the
  same check with ``trace_code=False`` (the baseline), run in turn, best of ``--repeat``:
  the target is at most 2×;
- the traced call of the user's function alone against one plain call, to show the
  tracer's own overhead per call;
- the user's function alone, traced vs untraced, at the sizes people run (a batched MLP on
  MNIST-sized data, naive-loop max-pool and conv-style backward passes that write into windows,
  an embedding backward that adds at repeated ids): the target is at most 2× once the function
  takes a few milliseconds; below that the tracer's fixed cost (about 25 µs per line run while
  a line is still being recorded, a few µs after) dominates.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's gradcheck, not an installed one

from gradcheck import check_network, load_spec
from gradcheck.diagnose.linetrace import trace_call
from gradcheck.usercode.impl import load_impl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "impls"))
import writes  # tests/impls/writes.py

IMPLS = Path(__file__).resolve().parent.parent / "tests" / "impls"


def _spec(sizes, acts, loss, convention, batch):
    return {"input": sizes[0], "layers": [{"units": u, "activation": a} for u, a in zip(sizes[1:], acts)],
            "loss": loss, "convention": convention, "batch": batch, "seed": 0}


CASES = [
    ("Nielsen per-sample, 3-3-3-2, N=5", _spec((3, 3, 3, 2), ["sigmoid"] * 3, "quadratic", "column", 5),
     "nielsen/adapter.py:prime_of_a_hidden"),
    ("Nielsen per-sample, 8-16-16-4, N=32", _spec((8, 16, 16, 4), ["sigmoid"] * 3, "quadratic", "column", 32),
     "nielsen/adapter.py:prime_of_a_hidden"),
    ("CS231n batched, 4-3-3-3, N=6", _spec((4, 3, 3, 3), ["relu", "relu", "softmax"], "cross_entropy", "row", 6),
     "cs231n_style.py:relu_mask_missing"),
    ("CS231n batched, 32-64-64-10, N=32",
     _spec((32, 64, 64, 10), ["relu", "relu", "softmax"], "cross_entropy", "row", 32),
     "cs231n_style.py:relu_mask_missing"),
]


def best_of(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def interleaved(base, other, repeat):
    """Best times of two functions run in turn, so that both see the same load of a shared machine."""
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, fn in enumerate((base, other)):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def _function_cases():
    """(label, fn, args) of user functions alone, at realistic sizes."""
    rng = np.random.default_rng(0)
    mlp = load_spec(_spec((784, 256, 10), ["relu", "softmax"], "cross_entropy", "row", 256))
    x = rng.normal(size=(16, 8, 32, 32))
    pool = {"pool_height": 3, "pool_width": 3, "stride": 2}
    out, cache = writes.max_pool_forward(x, pool)
    W, ids = rng.normal(size=(1000, 64)), list(rng.integers(0, 1000, size=4096))
    return [
        ("CS231n batched MLP 784-256-10, N=256", load_impl(f"{IMPLS / 'cs231n_style.py'}:relu_mask_missing"),
         (mlp.parameters(), *mlp.batch_data())),
        ("max-pool backward, naive loops, 16×8×32×32", writes.max_pool_backward_overwritten,
         (rng.normal(size=out.shape), cache)),
        ("embedding backward, dW[ids] += dout, 4096 ids", writes.embedding_backward_buffered,
         (rng.normal(size=(4096, 64)), (W, ids))),
        ("RNN dx written step by step, N=64, T=50", writes.rnn_dx, (rng.normal(size=(64, 50, 128)),
                                                                   rng.normal(size=(64, 128)))),
    ]


def function_table(repeat):
    """Rows: the user's function alone, plain vs traced (best of ``repeat`` each, run in turn)."""
    rows = []
    for label, fn, args in _function_cases():
        plain, traced = interleaved(partial(fn, *args), partial(trace_call, fn, *args), repeat)
        rows.append([label, f"{plain * 1e3:.2f}", f"{traced * 1e3:.2f}", f"{traced / plain:.2f}×"])
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="best of this many runs (default 7)")
    args = parser.parse_args(argv)
    rows = []
    for label, raw, target in CASES:
        spec = load_spec(raw)
        impl = f"{IMPLS / target}"
        base, traced = interleaved(partial(check_network, spec, impl, symbolic="off", trace_code=False),
                                   partial(check_network, spec, impl, symbolic="off", trace_code=True), args.repeat)
        fn = load_impl(impl)
        params, (X, Y) = spec.parameters(), spec.batch_data()
        plain_call = best_of(partial(fn, params, X, Y), args.repeat * 5)
        traced_call = best_of(partial(trace_call, fn, params, X, Y), args.repeat * 5)
        rows.append([label, f"{base * 1e3:.1f}", f"{traced * 1e3:.1f}", f"{traced / base:.2f}×",
                     f"{plain_call * 1e3:.2f}", f"{traced_call * 1e3:.2f}", f"{traced_call / plain_call:.1f}×"])
    print(f"Python {sys.version.split()[0]}, {'sys.monitoring' if hasattr(sys, 'monitoring') else 'sys.settrace'}")
    print(tabulate(rows, ["wrong backprop", "check ms (baseline)", "check ms, traced", "ratio (≤ 2×)",
                          "call ms", "traced call ms", "call ratio"], disable_numparse=True))
    worst = max(float(r[3][:-1]) for r in rows)
    print(f"worst whole-check ratio {worst:.2f}× (target ≤ 2×): {'met' if worst <= 2 else 'NOT met'}")
    funcs = function_table(args.repeat)
    print()
    print(tabulate(funcs, ["your function alone", "plain ms", "traced ms", "ratio (≤ 2×)"], disable_numparse=True))
    worst_fn = max(float(r[3][:-1]) for r in funcs)
    print(f"worst function ratio {worst_fn:.2f}× (target ≤ 2×): {'met' if worst_fn <= 2 else 'NOT met'}")
    return 0 if worst <= 2 and worst_fn <= 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
