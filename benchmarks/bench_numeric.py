"""Finite differences: vectorised (one batched forward pass over all perturbed networks) vs a loop.

Run: ``python benchmarks/bench_numeric.py``. Prints a table; the baseline (a Python loop
over elements, two forward passes each, as scipy.optimize.check_grad-style checkers do)
is measured in the same run on the same machine, so the speed-up column is comparable
across machines. With torch installed, ``torch.autograd.gradcheck`` on the same network
(float64, its default central differences) is timed as a third column.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from tabulate import tabulate

from gradcheck import load_spec, numeric_gradient
from gradcheck.backprop import (
    backprop,  # the function (gradcheck.backprop is also its module)
    forward,
    loss_value,
)
from gradcheck.numeric import default_step

SIZES = [(2, [3, 2]), (4, [8, 4]), (8, [16, 4]), (16, [32, 16, 4]), (32, [64, 32, 10]), (64, [128, 10])]


def loop_gradient(spec, params, X, Y):
    """The baseline: perturb one element at a time, two forward passes each."""
    grads = []
    for p in params:
        g = {}
        for k, v in p.items():
            out = np.empty_like(v)
            for idx in np.ndindex(*v.shape):
                old = v[idx]
                h = float(default_step(old))
                v[idx] = old + h
                up = loss_value(spec, forward(spec, params, X).output, Y)
                v[idx] = old - h
                down = loss_value(spec, forward(spec, params, X).output, Y)
                v[idx] = old
                out[idx] = (up - down) / (2 * h)
            g[k] = out
        grads.append(g)
    return grads


def best_of(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_mib(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def torch_time(spec, params, X, Y, repeat):
    try:
        import torch
    except ImportError:
        return None
    acts = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "linear": lambda z: z}
    tensors = [torch.tensor(p[k], dtype=torch.float64, requires_grad=True) for p in params for k in ("W", "b")]
    Xt, Yt = torch.tensor(X), torch.tensor(Y)

    def f(*ts):
        a = Xt
        for i, ly in enumerate(spec.layers):
            a = acts[ly.activation](ts[2 * i] @ a + ts[2 * i + 1][:, None])
        return ((a - Yt) ** 2).mean()

    return best_of(lambda: torch.autograd.gradcheck(f, tensors, eps=1e-6, atol=1e-5), repeat)[0]


def measure(n_in, units, batch, repeat):
    """One table row for a tanh network n_in-units[0]-...-units[-1] (linear output)."""
    layers = [{"units": u, "activation": "tanh"} for u in units[:-1]] + [{"units": units[-1], "activation": "linear"}]
    spec = load_spec({"input": n_in, "layers": layers, "batch": batch})
    params = spec.parameters()
    X, Y = spec.batch_data()
    t_vec, num = best_of(lambda: numeric_gradient(spec, params, X, Y), repeat)
    t_loop, loop = best_of(lambda: loop_gradient(spec, params, X, Y), 1 if spec.n_params > 2000 else repeat)
    t_bp, (_, ref) = best_of(lambda: backprop(spec, params, X, Y), repeat)
    agree = max(float(np.max(np.abs(a[k] - b[k]))) for a, b in zip(num.grads, loop) for k in a)
    err = max(float(np.max(np.abs(a[k] - b[k]))) for a, b in zip(num.grads, ref) for k in a)
    mem = peak_mib(lambda: numeric_gradient(spec, params, X, Y))
    t_torch = torch_time(spec, params, X, Y, 1)
    return ["-".join(map(str, [n_in, *units])), spec.n_params, f"{t_bp * 1e3:.2f}", f"{t_loop * 1e3:.1f}",
            f"{t_vec * 1e3:.1f}", f"{t_loop / t_vec:.1f}x", f"{mem:.1f}", f"{agree:.1e}", f"{err:.1e}",
            "-" if t_torch is None else f"{t_torch * 1e3:.1f}"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = [measure(n_in, units, args.batch, args.repeat) for n_in, units in SIZES]
    print(f"finite differences over every parameter, batch N={args.batch}, best of {args.repeat}")
    print(tabulate(rows, ["net", "params", "backprop ms", "loop FD ms (baseline)", "vectorised FD ms", "speed-up",
                          "peak MiB", "max |vec - loop|", "max |vec - backprop|", "torch gradcheck ms"],
                   disable_numparse=True, colalign=("left",) + ("right",) * 9))


if __name__ == "__main__":
    main()
