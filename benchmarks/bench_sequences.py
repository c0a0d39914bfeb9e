"""Sequence networks: the full check of an LSTM against a per-element loop of forward passes.

Run: ``python benchmarks/bench_sequences.py``. Prints a table with the target:

* an LSTM (T = 20, D = 16, H = 32, N = 16, every h) -> dense per step (K = 4), mse: the full
  reference check (``check_network``, default threads, no SymPy) at least 20× faster than
  the baseline measured in the same run: central differences one element at a time, two
  forward passes of the whole network each (gradcheck's own vectorised forward pass).
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

from bench_layers import loop_gradient  # noqa: E402
from bench_numeric import best_of  # noqa: E402

from gradcheck.checks.network import check_network  # noqa: E402
from gradcheck.numeric.network import numeric_gradient  # noqa: E402
from gradcheck.reference.backprop import backprop, forward, loss_value  # noqa: E402
from gradcheck.spec.parse import load_spec  # noqa: E402

LSTM = {"name": "lstm_t20", "input": {"steps": 20, "features": 16}, "batch": 16, "loss": "mse", "seed": 1,
        "layers": [{"type": "lstm", "units": 32, "sequences": True}, {"units": 4}]}
TARGET = 20.0


def cpu_of(fn):
    """(CPU seconds of one run, its result): what the wall time would be on an idle machine, as these machines are
    shared (all threads counted)."""
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    args = ap.parse_args(argv)
    rows = []
    spec = load_spec(LSTM)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    t_check, result = best_of(lambda: check_network(spec, symbolic="off", mode="full"), args.repeat)
    assert result.passed, str(result)
    c_check, _ = cpu_of(lambda: check_network(spec, symbolic="off", mode="full"))
    t_fd, _ = best_of(lambda: numeric_gradient(spec, params, X, Y, method="central"), args.repeat)
    c_fd, _ = cpu_of(lambda: numeric_gradient(spec, params, X, Y, method="central"))
    t0, c0 = time.perf_counter(), time.process_time()
    g_loop = loop_gradient(spec, [dict(p) for p in params], X, Y,
                           lambda q: loss_value(spec, forward(spec, q, X).output, Y))
    t_loop, c_loop = time.perf_counter() - t0, time.process_time() - c0
    _, reference = backprop(spec, params, X, Y)
    np.testing.assert_allclose(g_loop[0]["Wh"], reference[0]["Wh"], rtol=1e-4, atol=1e-9)
    n = spec.n_params
    rows.append([f"lstm T=20 D=16 H=32 N=16 -> dense: check_network ({n} params)", f"{t_check:.3f}",
                 f"{c_check:.3f}", f"{TARGET:.0f}x", "yes" if t_loop / t_check >= TARGET else "NO",
                 f"{t_loop / t_check:.2f}x", f"per-element loop {t_loop:.2f} s (cpu {c_loop:.2f} s)"])
    rows.append(["the same: central differences only (numeric_gradient)", f"{t_fd:.3f}", f"{c_fd:.3f}", "", "",
                 f"{t_loop / t_fd:.2f}x", ""])
    print(tabulate(rows, ["case", "seconds", "cpu s", "target", "met", "vs per-element loop", "note"],
                   disable_numparse=True))
    return 0 if all(r[3] in ("yes", "") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
