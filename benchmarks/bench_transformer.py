"""A one-block transformer: the full check against a per-element loop, measured in one run.

Run: ``python benchmarks/bench_transformer.py`` (default threads). Prints one table. The
network is T = 16 steps of D = 32 features, N = 8 samples:

    attention (4 heads) -> add (the input, the residual) -> layernorm -> dense per step (tanh)
    -> flatten -> dense softmax, cross-entropy

and, for comparison, the attention layer alone under the same head (attention -> flatten ->
dense softmax). The target: the full check (``check_network``, every element, reference
backprop against finite differences) at least 20× faster than the baseline, a Python loop
over every param element with two forward passes of the whole network each, measured in the
same run on the same machine. The baseline's gradient is also compared with the reference
backprop (their largest relative error), so the network itself is known to be right. Where
this version cannot check a network yet (layernorm over each step, finite differences through
a residual), its row says why instead of a time; a network whose layernorm cannot take a
sequence is measured without it (said in its row).
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
from gradcheck.reference.backprop import backprop  # noqa: E402
from gradcheck.spec.parse import load_spec  # noqa: E402

T, D, HEADS, N, K = 16, 32, 4, 8, 4
TARGET = 20.0


def block(norm=True):
    layers = [{"type": "attention", "heads": HEADS, "name": "attn"},
              {"type": "add", "inputs": ["input", "attn"]},
              {"type": "layernorm"},
              {"type": "dense", "units": D, "activation": "tanh"},
              {"type": "flatten"},
              {"type": "dense", "units": K, "activation": "softmax"}]
    if not norm:
        del layers[2]
    return {"name": "transformer_block", "input": {"steps": T, "features": D}, "batch": N, "seed": 1,
            "loss": "cross_entropy", "convention": "row", "layers": layers}


ATTENTION = {"name": "attention_head", "input": {"steps": T, "features": D}, "batch": N, "seed": 1,
             "loss": "cross_entropy", "convention": "row",
             "layers": [{"type": "attention", "heads": HEADS}, {"type": "flatten"},
                        {"type": "dense", "units": K, "activation": "softmax"}]}


def timed(fn):
    """(wall seconds, CPU seconds, result) of one call."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def _usable(raw):
    """The spec, or None where this version cannot run its reference backprop (e.g. layernorm over each step)."""
    try:
        spec = load_spec(raw)
        params, (X, Y) = spec.parameters(), spec.batch_data()
        backprop(spec, params, X, Y)
        return spec
    except Exception:  # a benchmark reports what it cannot run
        return None


def _rel(a, b):
    """The largest error of one layer's gradients ``a`` against ``b``, relative to b's largest element (a tensor
    that is zero in exact arithmetic, attention's bk, has no scale of its own)."""
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a) / max(float(np.max(np.abs(b[k]))) for k in b)


def measure(name, raw, note=""):
    """One row: the full check and the per-element loop on the same network."""
    spec = load_spec(raw)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    t_loop, c_loop, g_loop = timed(lambda: loop_gradient(spec, [dict(p) for p in params], X, Y))
    _, reference = backprop(spec, params, X, Y)
    err = max(_rel(g, r) for g, r in zip(g_loop, reference) if g)
    try:
        t_check, c_check, result = timed(lambda: check_network(spec, symbolic="off", mode="full"))
    except Exception as exc:  # the row says why this version cannot check it yet
        first = str(exc).splitlines()[0] if str(exc) else ""
        return [name, spec.n_params, "", "", f"{t_loop:.2f}", "", "", "not checkable yet",
                f"{type(exc).__name__}: {first[:70]}; {note}".strip("; "), f"{err:.1e}"]
    verdict = "PASS" if result.passed else "FAIL"
    speed = t_loop / t_check
    return [name, spec.n_params, f"{t_check:.2f}", f"{c_check:.2f}", f"{t_loop:.2f}", f"{c_loop / c_check:.1f}x",
            f"{speed:.1f}x", "yes" if speed >= TARGET else "NO", f"{verdict}, {result.extra.get('mode')}; {note}"
            .strip("; "), f"{err:.1e}"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args(argv)
    rows = []
    full = block(norm=True)
    if _usable(full) is not None:
        rows.append(measure("one-block transformer", full))
    else:
        rows.append(measure("one-block transformer", block(norm=False),
                            "without layernorm (it cannot take a sequence in this version)"))
    rows.append(measure("attention -> flatten -> dense", ATTENTION))
    print(f"T = {T}, D = {D}, {HEADS} heads, N = {N}; target: the full check {TARGET:g}x faster than the loop")
    print(tabulate(rows, ["network", "params", "check s", "check cpu s", "loop s", "vs loop (cpu)", "vs loop",
                          "met", "check", "loop vs backprop (rel to max)"], disable_numparse=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
