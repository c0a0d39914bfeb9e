"""Convolutional networks: the full CLI check of the tiny CNN, and the reference check of a CS231n-sized conv layer.

Run: ``python benchmarks/bench_layers.py``. Prints a table with the targets:

* the full three-way CLI check of ``derivations/tiny_cnn.json`` (a fresh
  ``python -m gradcheck`` process, start-up included): at most 1 s;
* the reference check of a conv layer through net.json, x 2×3×8×8, 4 filters 3×3
  (stride 1, padding 1, as CS231n's ``conv_forward_naive`` test): at most 0.5 s.

The baselines are measured in the same run on the same machine: the same finite
differences done one element at a time, two forward passes each, with gradcheck's own
vectorised forward pass ("per-element loop") and with a naive forward pass that loops
over samples, filters and output pixels as CS231n's ``conv_forward_naive`` does
("naive loop", the way a per-element checker meets a hand-written layer).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_numeric import best_of  # noqa: E402

from gradcheck.checks.network import check_network  # noqa: E402
from gradcheck.numeric.network import numeric_gradient  # noqa: E402
from gradcheck.numeric.stencils import default_step  # noqa: E402
from gradcheck.reference.backprop import backprop, forward, loss_value  # noqa: E402
from gradcheck.spec.parse import load_spec  # noqa: E402

BIGGER_CONV = {"name": "bigger_conv", "input": [3, 16, 16], "batch": 4, "loss": "mse", "seed": 2,
               "layers": [{"type": "conv2d", "filters": 8, "kernel": 3, "padding": 1, "activation": "tanh"},
                          {"type": "avgpool2d", "size": 2}, {"type": "flatten"}, {"units": 10}]}
CONV_LAYER = {"name": "cs231n_conv", "input": [3, 8, 8], "batch": 2, "loss": "mse", "seed": 1,
              "layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "stride": 1, "padding": 1},
                         {"type": "flatten"}]}


def loop_gradient(spec, params, X, Y, cost):
    """Perturb one param element at a time; ``cost(params)`` is one forward pass and the loss."""
    grads = []
    for i, shapes in enumerate(spec.param_shapes()):
        g = {}
        for k in shapes:
            v = params[i][k]
            out = np.empty_like(v)
            for idx in np.ndindex(*v.shape):
                old = v[idx]
                h = float(default_step(old))
                v[idx] = old + h
                up = cost(params)
                v[idx] = old - h
                down = cost(params)
                v[idx] = old
                out[idx] = (up - down) / (2 * h)
            g[k] = out
        grads.append(g)
    return grads


def naive_conv_cost(spec, X, Y):
    """C of conv → flatten with a forward pass written as CS231n's conv_forward_naive: loops over n, f, i, j."""
    ly = spec.layers[0]
    (kh, kw), (s, _), p = ly.kernel, ly.stride, ly.padding
    xpad = np.pad(X, ((0, 0), (0, 0), (p, p), (p, p)))
    n, (f, ho, wo) = X.shape[0], ly.out_shape

    def cost(params):
        W, b = params[0]["W"], params[0]["b"]
        out = np.zeros((n, f, ho, wo))
        for m in range(n):
            for g in range(f):
                for i in range(ho):
                    for j in range(wo):
                        out[m, g, i, j] = np.sum(xpad[m, :, i * s:i * s + kh, j * s:j * s + kw] * W[g]) + b[g]
        a = spec.conv.from_samples(out.reshape(n, -1))
        return loss_value(spec, a, Y)
    return cost


def _child_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_seconds(path, repeat, *options):
    """Wall time of a fresh ``python -m gradcheck path`` (start-up, the check, the report to stdout), and its CPU
    time (user + system: what the wall time would be on an idle machine, as these machines are shared)."""
    cpu = []

    def run():
        before = _child_cpu()
        done = subprocess.run([sys.executable, "-m", "gradcheck", str(path), *options], cwd=ROOT,
                              capture_output=True, text=True)
        cpu.append(_child_cpu() - before)
        if done.returncode != 0:
            raise SystemExit(f"gradcheck {path} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done.stdout
    wall, out = best_of(run, repeat)
    return wall, min(cpu), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs (default 3)")
    args = ap.parse_args(argv)
    rows = []

    # 1. The tiny CNN, full CLI check in a fresh process.
    tiny = ROOT / "derivations" / "tiny_cnn.json"
    t_cli, cpu_cli, out = cli_seconds(tiny, args.repeat)
    opinions = "backprop, symbolic" if "symbolic vs" in out or "backprop, symbolic" in out else "backprop"
    rows.append(["tiny CNN: python -m gradcheck (3-way CLI check)", f"{t_cli:.3f}", f"{cpu_cli:.3f}", "1.0",
                 "yes" if min(t_cli, cpu_cli) <= 1.0 else "NO", "", "", f"checked: {opinions} vs numeric"])

    # 2. A CS231n-sized conv layer through net.json: the reference check (backprop vs finite differences).
    spec = load_spec(CONV_LAYER)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    t_check, result = best_of(lambda: check_network(spec, symbolic="off", method="central"), args.repeat)
    assert result.passed, str(result)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cs231n_conv.json"
        path.write_text(json.dumps(CONV_LAYER))
        t_conv_cli, cpu_conv, _ = cli_seconds(path, args.repeat, "--symbolic", "off")
        t_conv_auto, cpu_auto, auto_out = cli_seconds(path, 1)
    t_loop, g_loop = best_of(lambda: loop_gradient(spec, [dict(p) for p in params], X, Y,
                                                   lambda q: loss_value(spec, forward(spec, q, X).output, Y)), 1)
    t_naive, g_naive = best_of(lambda: loop_gradient(spec, [dict(p) for p in params], X, Y,
                                                     naive_conv_cost(spec, X, Y)), 1)
    _, reference = backprop(spec, params, X, Y)
    for g in (g_loop, g_naive):
        np.testing.assert_allclose(g[0]["W"], reference[0]["W"], rtol=1e-4, atol=1e-9)
    n = spec.n_params
    rows.append([f"conv 2x3x8x8, 4 filters 3x3: check_network ({n} params)", f"{t_check:.3f}", "", "0.5",
                 "yes" if t_check <= 0.5 else "NO", f"{t_loop / t_check:.0f}x", f"{t_naive / t_check:.0f}x",
                 f"loop {t_loop:.2f} s, naive loop {t_naive:.2f} s"])
    rows.append(["the same: python -m gradcheck net.json --symbolic off", f"{t_conv_cli:.3f}", f"{cpu_conv:.3f}",
                 "0.5", "yes" if min(t_conv_cli, cpu_conv) <= 0.5 else "NO", f"{t_loop / t_conv_cli:.1f}x",
                 f"{t_naive / t_conv_cli:.1f}x", "fresh process, start-up included"])
    auto = "with SymPy" if "symbolic vs" in auto_out or "backprop, symbolic" in auto_out else "SymPy skipped"
    rows.append(["the same, default --symbolic auto (information)", f"{t_conv_auto:.3f}", f"{cpu_auto:.3f}", "", "",
                 "", "",
                 f"three-way check, {auto}"])

    # 3. Finite differences of a bigger conv layer: only the output channel a filter weight touches is rebuilt.
    big = load_spec(BIGGER_CONV)
    bp, (bX, bY) = big.parameters(), big.batch_data()
    t_plain, g_plain = best_of(lambda: numeric_gradient(big, bp, bX, bY, method="central", structured=False),
                               args.repeat)
    t_struct, g_struct = best_of(lambda: numeric_gradient(big, bp, bX, bY, method="central"), args.repeat)
    np.testing.assert_allclose(g_struct.grads[0]["W"], g_plain.grads[0]["W"], rtol=1e-6, atol=1e-10)
    rows.append([f"conv 4x3x16x16, 8 filters 3x3 -> avgpool -> dense: finite differences ({big.n_params} params)",
                 f"{t_struct:.3f}", "", "", "", f"{t_plain / t_struct:.1f}x vs plain stack", "",
                 f"one output channel rebuilt per conv weight (plain: {t_plain:.3f} s)"])

    print(tabulate(rows, ["case", "seconds", "cpu s", "target", "met", "vs per-element loop", "vs naive loop", "note"],
                   disable_numparse=True))
    return 0 if all(r[4] in ("yes", "") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
