"""How far ``mode="auto"``'s estimate of a full check is from the full check's measured time, over every kind.

Run: ``python benchmarks/bench_estimate.py [--limit 25]``. For each network (dense with every activation and
loss, convolutions with and without kinks, the makemore MLP, LSTM, GRU, RNN, attention and a transformer block,
at several batch sizes), it prints :func:`~gradcheck.numeric.estimate.estimate_seconds` plus the passes every
check makes (what ``auto`` compares with its 2 s), the measured time of ``check_network(spec, symbolic="off",
mode="full")`` and their ratio; networks estimated above ``--limit`` seconds are listed, not run. The target: every
ratio within 2× either way, so that ``auto`` never runs a full check of more than about 4 s believing it takes 2.
Both sides come from the same run; the estimate's constants were fitted on this machine type (see
``gradcheck/numeric/estimate.py``), so on another the ratios move together, not apart.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_layers import BIGGER_CONV  # noqa: E402
from bench_makemore import MAKEMORE  # noqa: E402
from bench_sequences import LSTM  # noqa: E402
from bench_transformer import ATTENTION, block  # noqa: E402
from machine import header  # noqa: E402

from gradcheck.checks.network import check_network  # noqa: E402
from gradcheck.numeric.estimate import CHECK_PASSES, _pass_seconds, estimate_seconds  # noqa: E402
from gradcheck.spec.parse import load_spec  # noqa: E402

TARGET = 2.0


def _dense(sizes, act, loss="cross_entropy", out="softmax", n=64):
    layers = [{"units": u, "activation": act} for u in sizes[1:-1]] + [{"units": sizes[-1], "activation": out}]
    return {"input": sizes[0], "layers": layers, "loss": loss, "batch": n}


def networks():
    """(name, net.json dict) of every network measured."""
    for n in (2, 8, 32):
        b = block()
        b["batch"] = n
        yield f"transformer block N={n}", b
    b = block()
    b["input"], b["layers"][3]["units"] = {"steps": 32, "features": 32}, 32
    yield "transformer block T=32", b
    tiny = json.loads((ROOT / "derivations" / "transformer_block.json").read_text())
    tiny.pop("data", None)
    tiny.pop("params", None)
    tiny["batch"] = 10000
    yield "transformer block T=2 D=2 N=10,000", tiny  # rows of two entries: NumPy's fixed cost per row
    yield "attention head", copy.deepcopy(ATTENTION)
    for n in (4, 16):
        lstm = copy.deepcopy(LSTM)
        lstm["batch"] = n
        yield f"lstm N={n}", lstm
    for kind in ("gru", "rnn"):
        r = copy.deepcopy(LSTM)
        r["layers"][0]["type"] = kind
        yield kind, r
    for n in (4, 32):
        c = copy.deepcopy(BIGGER_CONV)
        c["batch"] = n
        yield f"conv tanh avgpool N={n}", c
    c = copy.deepcopy(BIGGER_CONV)
    c["layers"][0]["activation"], c["layers"][1]["type"] = "relu", "maxpool2d"
    yield "conv relu maxpool", c
    for n in (32, 256):
        m = copy.deepcopy(MAKEMORE)
        m["batch"] = n
        yield f"makemore N={n}", m
    for n in (32, 1024):
        for act in ("relu", "tanh"):
            yield f"dense 64-256-10 {act} N={n}", _dense([64, 256, 10], act, n=n)
    for act in ("gelu", "sigmoid", "elu", "softplus", "leaky_relu", "gelu_tanh", "selu"):
        yield f"dense 16-64-64-10 {act}", _dense([16, 64, 64, 10], act)
    yield "dense bce", _dense([32, 64, 5], "tanh", "bce", "sigmoid")
    yield "dense relu mse", _dense([32, 64, 64, 4], "relu", "mse", "linear")
    svm = _dense([100, 50, 10], "relu", "svm", "linear")
    svm["regularization"] = {"l2": 0.01}
    yield "dense svm l2", svm


def estimated(spec, n):
    """What auto compares with its 2 s: the finite differences' estimate plus the passes every check makes."""
    return estimate_seconds(spec, n) + CHECK_PASSES * n * _pass_seconds(spec)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=25.0, help="skip networks estimated above this (s)")
    args = parser.parse_args(argv)
    print("\n".join(header()) + "\n")
    rows, ratios = [], []
    for name, raw in networks():
        spec = load_spec(raw)
        n = spec.samples_in(spec.targets(spec.batch_data(None)[1]))
        guess = estimated(spec, n)
        if guess > args.limit:
            rows.append([name, f"{spec.n_params:,}", f"{guess:.2f}", "(not run)", ""])
            continue
        start = time.perf_counter()
        check_network(spec, symbolic="off", mode="full")
        took = time.perf_counter() - start
        ratios.append(took / guess)
        rows.append([name, f"{spec.n_params:,}", f"{guess:.2f}", f"{took:.2f}", f"{took / guess:.2f}"])
    print(tabulate(rows, headers=["network", "params", "estimated s", "measured s", "measured / estimated"],
                   disable_numparse=True))
    inside = sum(1 / TARGET <= r <= TARGET for r in ratios)
    print(f"\n{inside} of {len(ratios)} within {TARGET:g}× either way (target: all); "
          f"ratios {min(ratios):.2f} to {max(ratios):.2f}")


if __name__ == "__main__":
    main()
