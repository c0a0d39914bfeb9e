"""The whole check as users run it: check_network end to end, its distance to the physical floor, and the CLI's threads.

Run: ``python benchmarks/bench_check.py [--repeat 3] [--skip-cli]`` (the CLI's runs get the thread
variables each row names, and no others: the default configuration is measured as such). Prints
the machine and library versions, then three
tables, every ratio against a baseline measured in the same run:

1. **the whole check**: ``check_network(spec, symbolic="off", mode="full")`` end to end (reference
   backprop, finite differences, comparison, result) against the per-element loop of
   ``bench_numeric.py`` (two forward passes per element, run with one BLAS thread, its fastest),
   for 16-32-16-4 and 64-128-64-10 (N=32, tanh hidden, linear output, mse). Targets: 30× and 200×. Beside
   it, the same check of the network of the same depth whose every layer is two wide (2-2-2-2): the cost of the
   check's stages whatever the network's size, and the loop's time over it, the most any check of that fixed cost
   could reach. Beside
   it, the same loop with a forward pass of bare NumPy, as a learner writes it (gradcheck's forward pass keeps
   what the shape trace and the rounding model need: the baseline loop takes 1.3-1.7 times as long), and the
   whole check's ratio against that; and the loop and the check again while a competing process keeps one core
   busy (a pure-Python spin, as a user's laptop runs an editor or a browser beside them);
2. **the floor**: for each dense benchmark network and makemore's MLP, the flops of the physical
   floor of a full forward-difference check (see ``floors.py``: the element floor, and the unit
   floor where the unit lines apply), and the measured time (whole check; finite differences
   alone) over the floor's time at the machine's rate at one big matrix product (one BLAS
   thread, measured in the same run).
3. **the CLI's threads**: ``python -m gradcheck net.json --quiet`` on 784-1024-256-10 (1,068,810
   params, N=32) with the process pinned to one BLAS thread (``OPENBLAS_NUM_THREADS=1``: the
   baseline), the default (the command line starts its BLAS with the check's threads, see
   ``gradcheck/threads.py``), and
   threads as inherited (``GRADCHECK_BLAS_THREADS=default``: OpenBLAS's own, one per core); each
   on the machine as it is and again while a competing process keeps one core busy. The CLI's processes run with
   gradcheck's bytecode compiled once beforehand, as an installed package has it (``machine.user_env``).

Each time is the best of ``--repeat`` runs (the CLI's runs interleaved across configurations); the whole check, the
finite differences and their per-element loop alike take more runs while they last under a second in all, so that
neither side of a ratio is one noisy run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_makemore import MAKEMORE  # noqa: E402
from bench_numeric import best_of, loop_gradient  # noqa: E402
from floors import dense_floors, makemore_floor  # noqa: E402
from machine import busy, flop_rate, header, user_env, warm_bytecode  # noqa: E402

from gradcheck.checks.network import check_network  # noqa: E402
from gradcheck.numeric import unitlines  # noqa: E402
from gradcheck.numeric.network import numeric_gradient  # noqa: E402
from gradcheck.numeric.stencils import default_step  # noqa: E402
from gradcheck.spec.parse import load_spec  # noqa: E402

TARGETS = {"16-32-16-4": 30.0, "64-128-64-10": 200.0}
BIG = {"name": "mlp-784", "input": 784, "layers": [{"units": 1024, "activation": "tanh"},
                                                    {"units": 256, "activation": "tanh"},
                                                    {"units": 10, "activation": "softmax"}],
       "loss": "cross_entropy", "batch": 32, "seed": 0}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GRADCHECK_BLAS_THREADS")


def mlp(sizes, loss="mse"):
    """bench_numeric's network: tanh hidden layers, a linear output (softmax for cross-entropy), N=32."""
    layers = [{"units": u, "activation": "tanh"} for u in sizes[1:-1]]
    layers.append({"units": sizes[-1], **({"activation": "softmax"} if loss == "cross_entropy" else {})})
    return load_spec({"input": sizes[0], "layers": layers, "batch": 32, "loss": loss,
                      **({"seed": 0} if loss == "cross_entropy" else {})})


def best(fn, repeat):
    """(best seconds of ``repeat`` runs, the last result)."""
    seconds, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        seconds = min(seconds, time.perf_counter() - t0)
    return seconds, out


def whole_rows(repeat):
    return [row for name, target in TARGETS.items() for row in _whole(name, target, repeat)]


def _whole(name, target, repeat):
    spec = mlp([int(x) for x in name.split("-")])
    params, (X, Y) = spec.parameters(), spec.batch_data()
    with threadpool_limits(1, "blas"):  # tiny products: one thread is the loop's fastest
        t_loop, _ = best_of(lambda: loop_gradient(spec, params, X, Y), repeat)
        t_plain, plain = best_of(lambda: plain_loop_gradient(params, X, Y), repeat)
    t_check, result = best_of(lambda: check_network(spec, symbolic="off", mode="full"), max(repeat, 20))
    t_fd, fd = best_of(lambda: numeric_gradient(spec, params, X, Y), max(repeat, 20))
    tiny = mlp([2] * (len(spec.layers) + 1))  # the same pipeline on the smallest network of the same depth
    with _lines_everywhere():  # every stage as the wide network runs it (a tiny layer is otherwise one by one)
        t_tiny, _ = best_of(lambda: check_network(tiny, symbolic="off", mode="full"), max(repeat, 20))
    with busy():  # the same pair while a competing process keeps one core busy, as on a user's laptop
        with threadpool_limits(1, "blas"):
            t_loop_busy, _ = best_of(lambda: loop_gradient(spec, params, X, Y), repeat)
        t_busy, _ = best_of(lambda: check_network(spec, symbolic="off", mode="full"), max(repeat, 20))
    for mine, theirs in zip(plain, fd.grads):  # the hand-written loop computes the same gradient
        for key in mine:
            assert np.allclose(mine[key], theirs[key], rtol=1e-4, atol=1e-8), f"{name}: hand-written loop, d{key}"
    speed, p = t_loop / t_check, f"{spec.n_params:,}"
    return [[name, p, "per-element loop (baseline)", f"{t_loop:.4f}", "1.0x", "", ""],
            [name, p, f"check_network, full, {'PASS' if result.passed else 'FAIL'}", f"{t_check:.4f}",
             f"{speed:.1f}x", f"{target:g}x", "yes" if speed >= target else "NO"],
            [name, p, "numeric_gradient alone (for comparison)", f"{t_fd:.4f}", f"{t_loop / t_fd:.1f}x", "", ""],
            [name, p, f"check_network of {'-'.join(['2'] * (len(spec.layers) + 1))}, the check's fixed cost at this "
                      "depth (the ratio: the most a check could reach that cost no more)", f"{t_tiny:.4f}",
             f"{t_loop / t_tiny:.1f}x", "", ""],
            [name, p, "per-element loop, hand-written NumPy forward", f"{t_plain:.4f}", f"{t_loop / t_plain:.1f}x",
             "", ""],
            [name, p, "check_network against the hand-written loop", "", f"{t_plain / t_check:.1f}x", "", ""],
            [name, p, "per-element loop, one core busy (a competing Python process)", f"{t_loop_busy:.4f}", "1.0x",
             "", ""],
            [name, p, "check_network, full, one core busy, against that loop", f"{t_busy:.4f}",
             f"{t_loop_busy / t_busy:.1f}x", f"{target:g}x", "yes" if t_loop_busy / t_busy >= target else "NO"]]


@contextlib.contextmanager
def _lines_everywhere():
    """Every dense layer's losses from its unit lines, however small the layer."""
    saved, unitlines.FIT_PASSES = unitlines.FIT_PASSES, 0
    try:
        yield
    finally:
        unitlines.FIT_PASSES = saved


def plain_loop_gradient(params, X, Y):
    """The per-element loop as a learner writes it, with a forward pass of bare NumPy (tanh hidden layers, a
    linear output, mse; W (units, K), a (K, N)) instead of gradcheck's, which keeps what its shape trace and
    rounding model need: two passes per element at the same steps. Faster than the baseline loop by that
    bookkeeping, so the whole check's lead over it is smaller."""
    Ws, bs = [p["W"] for p in params], [p["b"][:, None] for p in params]
    scale = 1.0 / Y.size

    def cost():
        a = X
        for W, b in zip(Ws[:-1], bs[:-1]):
            a = np.tanh(W @ a + b)
        d = Ws[-1] @ a + bs[-1] - Y
        return float((d * d).sum()) * scale

    grads = []
    for p in params:
        g = {}
        for key, v in p.items():
            out = np.empty_like(v)
            flat, into = v.reshape(-1), out.reshape(-1)
            for e in range(flat.size):
                old = flat[e]
                h = float(default_step(old))
                flat[e] = old + h
                up = cost()
                flat[e] = old - h
                down = cost()
                flat[e] = old
                into[e] = (up - down) / (2 * h)
            g[key] = out
        grads.append(g)
    return grads


def floor_rows(repeat, rate):
    nets = [("16-32-16-4", mlp([16, 32, 16, 4])), ("64-128-64-10", mlp([64, 128, 64, 10])),
            ("784-1024-256-10, softmax + cross-entropy", mlp([784, 1024, 256, 10], "cross_entropy")),
            ("makemore MLP 27·10, 30-200-27, batchnorm", load_spec(MAKEMORE))]
    return [_floor(name, spec, repeat, rate) for name, spec in nets]


def _floor(name, spec, repeat, rate):
    params, (X, Y) = spec.parameters(), spec.batch_data()
    if spec.tokens:
        element, unit = makemore_floor(X), None
    else:
        element, unit = dense_floors([int(x) for x in name.split(",")[0].split("-")], len(X.T), spec.loss)
    reps = repeat if spec.n_params > 100_000 else max(repeat, 10)
    t_check, _ = best(lambda: check_network(spec, symbolic="off", mode="full"), reps)
    t_fd, _ = best(lambda: numeric_gradient(spec, params, X, spec.targets(Y)), reps)
    e_s, u_s = element / rate, (unit or float("nan")) / rate
    return [name, f"{spec.n_params:,}", f"{element:.3g}", f"{e_s * 1e3:.3g}", f"{unit:.3g}" if unit else "n/a",
            f"{u_s * 1e3:.3g}" if unit else "", f"{t_check:.4f}", _times(t_check / e_s),
            _times(t_check / u_s) if unit else "", _times(t_fd / e_s), _times(t_fd / u_s) if unit else ""]


def _times(ratio):
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2f}x"


def _env(extra):
    """The environment users run the command line in (:func:`machine.user_env`) without thread variables, plus
    ``extra``: the default configuration unless told."""
    return {**{k: v for k, v in user_env().items() if k not in THREAD_VARIABLES}, "PYTHONPATH": str(ROOT), **extra}


def cli_rows(repeat):
    configs = [("one BLAS thread for the process, OPENBLAS_NUM_THREADS=1 (baseline)", {"OPENBLAS_NUM_THREADS": "1"}),
               ("the default (the command line starts its BLAS with 1 thread)", {}),
               ("threads inherited, GRADCHECK_BLAS_THREADS=default", {"GRADCHECK_BLAS_THREADS": "default"})]
    rows = []
    warm_bytecode()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "net.json").write_text(json.dumps(BIG))
        for load, context in (("as it is", None), ("one core busy", busy)):
            times = {label: [] for label, _ in configs}
            cpu = {label: [] for label, _ in configs}
            with context() if context else contextlib.nullcontext():
                for _ in range(repeat):
                    for label, extra in configs:
                        before = os.times()
                        t0 = time.perf_counter()
                        done = subprocess.run([sys.executable, "-m", "gradcheck", "net.json", "--quiet"], cwd=tmp,
                                              env=_env(extra), capture_output=True, text=True)
                        times[label].append(time.perf_counter() - t0)
                        after = os.times()
                        cpu[label].append(after.children_user - before.children_user
                                          + after.children_system - before.children_system)
                        if done.returncode != 0:
                            raise SystemExit(f"the CLI failed ({label}): {done.stdout[-300:]}{done.stderr[-300:]}")
            base = min(times[configs[0][0]])
            for label, _ in configs:
                t = min(times[label])
                rows.append([load, label, f"{t:.2f}", f"{min(cpu[label]):.2f}", f"{t / base:.2f}x"])
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    ap.add_argument("--skip-cli", action="store_true", help="skip the CLI's thread rows (a minute)")
    args = ap.parse_args(argv)
    print("\n".join(header()) + "\n")
    print("the whole check against the per-element loop, N=32, tanh hidden, linear output, mse")
    print(tabulate(whole_rows(args.repeat), ["net", "params", "run", "seconds", "vs loop", "target", "met"],
                   disable_numparse=True, colalign=("left", "right", "left", "right", "right", "right")))
    with threadpool_limits(1, "blas"):
        rate = flop_rate()
    print(f"\nthe physical floor (benchmarks/floors.py), at {rate / 1e9:.1f} GFLOP/s (one 1024×1024 float64 "
          "product, one BLAS thread, best of 3)")
    print(tabulate(floor_rows(args.repeat, rate),
                   ["net, N=32", "params", "element floor flops", "ms", "unit floor flops", "ms", "check s",
                    "check / element floor", "check / unit floor", "fd / element floor", "fd / unit floor"],
                   disable_numparse=True))
    if not args.skip_cli:
        print("\nthe CLI, python -m gradcheck net.json --quiet, 784-1024-256-10 (1,068,810 params), N=32 "
              "(start-up included; CPU: user + system of the process)")
        print(tabulate(cli_rows(args.repeat), ["machine", "BLAS threads", "seconds", "CPU s", "vs baseline"],
                       disable_numparse=True))


if __name__ == "__main__":
    main()
