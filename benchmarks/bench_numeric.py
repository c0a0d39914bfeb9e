"""Finite differences: structured, plain and sampled checks against a per-element loop, measured in one run.

Run: ``python benchmarks/bench_numeric.py`` (``--quick`` skips the slowest rows). Prints
three tables; every speed-up is against a baseline measured in the same run on the same
machine, so the ratios compare across machines:

1. **full checks**, tanh MLPs with MSE loss, N=32: the baseline is a Python loop over
   elements with two forward passes each (as scipy.optimize.check_grad-style checkers
   do); then gradcheck's structured finite differences (central, Richardson, complex
   step), the plain recompute-everything mode, and ``torch.autograd.gradcheck`` in its
   slow and fast modes when torch is installed. Accuracy is the largest relative error
   against the reference backprop (an autograd oracle where torch is installed);
2. **the CLI on a million-param network** (784-1024-256-10, N=32) in the default mode, with
   a correct backprop and with one planted wrong element in W0 (named or not);
3. **start-up**: the CLI with ``--symbolic off``; a pytest run with the plugin disabled and
   loaded, alternating 15 times (best and median, and their difference: the plugin's
   cost); and the import of the plugin module in a fresh interpreter.

The machine is shared and noisy: each number is the best of ``--repeat`` runs, or of as
many as fit in a second for the fast ones (up to 200).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's gradcheck, not an installed one

from gradcheck import load_spec, numeric_gradient
from gradcheck.numeric.stencils import default_step
from gradcheck.reference.backprop import (
    backprop,  # the function (gradcheck.reference.backprop is also its module)
    forward,
    loss_value,
)

NETS = [(16, [32, 16, 4]), (64, [128, 64, 10])]


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


def best_of(fn, repeat, budget=1.0):
    """(best time, last result) of at least ``repeat`` runs, more while they take under ``budget`` seconds in all
    (up to 200): a run of a millisecond needs many tries to find its time on a shared machine."""
    best, out, spent, runs = float("inf"), None, 0.0, 0
    while runs < repeat or (spent < budget and runs < 200):
        t0 = time.perf_counter()
        out = fn()
        took = time.perf_counter() - t0
        best, spent, runs = min(best, took), spent + took, runs + 1
    return best, out


def peak_mib(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def rel_error(grads, ref):
    return max(float(np.abs(g[k] - r[k]).max() / np.abs(r[k]).max()) for g, r in zip(grads, ref) for k in r)


def torch_parts(spec, params, X, Y):
    """(gradcheck callable, tensors, autograd gradients) or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    tensors = [torch.tensor(p[k], dtype=torch.float64, requires_grad=True) for p in params for k in ("W", "b")]
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    acts = [torch.tanh if ly.activation == "tanh" else (lambda z: z) for ly in spec.layers]

    def f(*ts):
        a = Xt
        for i, act in enumerate(acts):
            a = act(ts[2 * i] @ a + ts[2 * i + 1][:, None])
        return ((a - Yt) ** 2).mean()

    grads = torch.autograd.grad(f(*tensors), tensors)
    oracle = [{"W": grads[2 * i].numpy(), "b": grads[2 * i + 1].numpy()} for i in range(len(spec.layers))]
    return torch, f, tensors, oracle


def full_rows(n_in, units, repeat, quick):
    layers = [{"units": u, "activation": "tanh"} for u in units[:-1]] + [{"units": units[-1]}]
    spec = load_spec({"input": n_in, "layers": layers, "batch": 32, "loss": "mse"})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    name = "-".join(map(str, [n_in, *units]))
    parts = torch_parts(spec, params, X, Y)
    ref = parts[3] if parts else backprop(spec, params, X, Y)[1]
    t_loop, loop = best_of(lambda: loop_gradient(spec, params, X, Y), 1, budget=0)
    rows = [[name, spec.n_params, "per-element loop (baseline)", f"{t_loop:.3f}", "1.0x", "-",
             f"{rel_error(loop, ref):.1e}"]]
    runs = [("structured, central", dict(method="central")), ("structured, richardson (default)", {}),
            ("structured per element, richardson", dict(lines=False)),
            ("structured, complex step", dict(method="complex-step"))]
    if not quick or spec.n_params < 2000:
        runs.append(("plain, richardson", dict(structured=False)))
    for label, kw in runs:
        t, num = best_of(lambda kw=kw: numeric_gradient(spec, params, X, Y, **kw), repeat)
        mem = peak_mib(lambda kw=kw: numeric_gradient(spec, params, X, Y, **kw))
        rows.append([name, spec.n_params, label, f"{t:.4f}", f"{t_loop / t:.1f}x", f"{mem:.0f}",
                     f"{rel_error(num.grads, ref):.1e}"])
    if parts:
        torch, f, tensors, _ = parts
        for fast in (False, True):
            t, _ = best_of(lambda fast=fast: torch.autograd.gradcheck(f, tensors, eps=1e-6, atol=1e-5,
                                                                      fast_mode=fast), 1, budget=0)
            rows.append([name, spec.n_params, f"torch.autograd.gradcheck {'fast' if fast else 'slow'}",
                         f"{t:.3f}", f"{t_loop / t:.1f}x", "-", "-"])
    return rows


IMPL = '''
from gradcheck.reference.backprop import backprop
from gradcheck.spec.parse import load_spec
SPEC = load_spec({spec!r})

def planted(params, X, Y):
    _, grads = backprop(SPEC, params, X, Y)
    grads[0]["W"][123, 456] *= 1.5
    return grads
'''


#: Runs the CLI and, at exit, writes its own peak resident memory (VmHWM, Linux) to stderr. The peak a parent
#: gets from wait4 would include the benchmark's own memory, shared by the child between fork and exec.
PEAK = ("import atexit, os, runpy, sys\n"
        "def peak():\n"
        "    if os.path.exists('/proc/self/status'):\n"
        "        sys.stderr.write(next(ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')))\n"
        "atexit.register(peak)\n"
        "sys.argv[0] = 'gradcheck'\n"
        "runpy.run_module('gradcheck', run_name='__main__')\n")


def cli(args, cwd, env=None):
    """(seconds, (exit code, stdout, peak resident MiB or NaN)) of one CLI run (``env``: variables to set)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - t0
    hwm = [ln.split()[1] for ln in done.stderr.splitlines() if ln.startswith("VmHWM")]
    return seconds, (done.returncode, done.stdout, int(hwm[0]) / 1024 if hwm else float("nan"))


def big_rows(repeat):
    spec = {"name": "mlp-784", "input": 784, "layers": [{"units": 1024, "activation": "tanh"},
                                                         {"units": 256, "activation": "tanh"},
                                                         {"units": 10, "activation": "softmax"}],
            "loss": "cross_entropy", "batch": 32, "seed": 0}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "net.json").write_text(json.dumps(spec))
        Path(tmp, "impl.py").write_text(IMPL.format(spec=spec))
        runs = [("default mode, reference only", []),
                ("the same, BLAS threads as inherited (GRADCHECK_BLAS_THREADS=default)", [], {"GRADCHECK_BLAS_THREADS":
                                                                                           "default"}),
                ("--format json (streamed), reference only", ["--format", "json"]),
                ("--impl with W0[123, 456] wrong", ["--impl", "impl.py:planted"]),
                ("--mode sampled, reference only", ["--mode", "sampled"]),
                ("--mode sampled, --impl with W0[123, 456] wrong", ["--mode", "sampled", "--impl", "impl.py:planted"])]
        for label, extra, *env in runs:
            def run(extra=extra, env=env):
                return cli(["net.json", "--symbolic", "off", *extra], tmp, *env)

            t, (_, (code, out, mib)) = best_of(run, repeat, budget=0)
            named = [line.split()[0] + " " + line.split()[1] for line in out.splitlines()
                     if line.startswith("W") and line.rstrip().endswith("wrong")]
            mode = "sampled" if "sampled check" in out else "full"
            rows.append(["784-1024-256-10", 1_068_810, label, f"{t:.2f}", f"{mib:.0f}", mode,
                         "PASS" if code == 0 else f"FAIL, wrong: {', '.join(named) or 'none named'}"])
            if "json" in label:  # the document is the output: its verdict, not its lines
                rows[-1][-1] = "PASS" if code == 0 and '"passed": true' in out else "FAIL"
    return rows


def plugin_import_us():
    """Microseconds that importing gradcheck's pytest plugin (and what it imports beyond pytest) takes in a fresh
    interpreter."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import pytest; import gradcheck.plugin"],
                          capture_output=True, text=True)  # pytest first: a pytest run has it loaded already
    line = next(ln for ln in done.stderr.splitlines() if ln.rstrip().endswith("| gradcheck.plugin"))
    return int(line.split("|")[1])


def startup_rows(repeat):
    root = Path(__file__).resolve().parents[1]
    rows = []
    t, _ = best_of(lambda: cli([str(root / "derivations" / "xor.json"), "--symbolic", "off", "-q"], root), repeat,
                   budget=0)
    rows.append(["python -m gradcheck xor.json --symbolic off", f"{t:.3f}", "-"])
    runs = {"pytest, plugin disabled": ["-p", "no:gradcheck"], "pytest, plugin loaded": []}
    times = {label: [] for label in runs}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test_nothing.py").write_text("def test_nothing():\n    pass\n")
        for _ in range(max(15, repeat)):  # alternate, so that drifts of a shared machine hit both alike
            for label, extra in runs.items():
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra], cwd=tmp,
                               capture_output=True)
                times[label].append(time.perf_counter() - t0)
    for label, ts in times.items():
        rows.append([label, f"{min(ts):.3f}", f"{np.median(ts):.3f}"])
    off, on = times.values()
    rows.append(["the plugin's cost (loaded − disabled)", f"{min(on) - min(off):+.3f}",
                 f"{np.median(on) - np.median(off):+.3f}"])
    rows.append(["import gradcheck.plugin after pytest, fresh interpreter", f"{plugin_import_us() / 1e6:.3f}", "-"])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="skip the plain mode on the larger network")
    args = ap.parse_args()
    threads = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"
    print(f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, NumPy {np.__version__}, BLAS threads {threads}; best of {args.repeat}\n")
    rows = [r for n_in, units in NETS for r in full_rows(n_in, units, args.repeat, args.quick)]
    print("full checks, tanh MLP + MSE, N=32")
    print(tabulate(rows, ["net", "params", "finite differences", "seconds", "speed-up", "peak MiB",
                          "max rel err"], disable_numparse=True, colalign=("left", "right", "left") + ("right",) * 4))
    print("\nthe CLI on a million-param network, N=32 (includes start-up)")
    print(tabulate(big_rows(args.repeat), ["net", "params", "run", "seconds", "peak RSS MiB", "mode", "verdict"],
                   disable_numparse=True))
    print("\nstart-up")
    print(tabulate(startup_rows(args.repeat), ["command", "best s", "median s"], disable_numparse=True))


if __name__ == "__main__":
    main()
