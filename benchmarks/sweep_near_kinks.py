"""Sweep the judge over kinks closer to θ than every first step: a relu or leaky relu unit whose z, for one sample,
sits 10^U(−15, −9) from 0 on either side.

Run: ``python benchmarks/sweep_near_kinks.py [--count N] [--seed S]`` (a minute). Each network is a random
N-in → hidden relu or leaky relu → out (linear, tanh or sigmoid) with mse, normal params and data, the chosen unit's
bias moved so that its z for sample 0 is the drawn distance from the kink (the other samples' z stay where the draw
put them). For each:

1. the correct run (the reference backprop) must pass: a FAIL is a false FAIL;
2. the unit's bias gradient halved, negated or zeroed (where it is 0, the unit being off, set to 1 instead) must not
   be judged good or kink: it is caught (wrong or suspicious) or left inconclusive, where the loss's rounding at a
   step that clears the kink is too coarse for the slope (a kink within 1e-15 of θ, or a loss whose rounding
   swamps the slope there).

It prints each plant's verdicts; ``benchmarks/sweep_judge.py``'s ``near_kink`` corner covers z from 1e-9 to 1e-5
against exact oracles.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's gradcheck

from gradcheck import check_network, load_spec
from gradcheck.reference.backprop import backprop

PLANTS = {"halved": 0.5, "negated": -1.0, "zeroed": 0.0}
VERDICTS = ("wrong", "suspicious", "inconclusive", "kink", "good")


def network(rng):
    """(net.json dict, the unit j whose z is next to its kink, the distance drawn)."""
    n_in, hidden, out, n = (int(rng.integers(1, 4)) for _ in range(4))
    W0, b0 = rng.normal(size=(hidden, n_in)), rng.normal(size=hidden)
    W1, b1 = rng.normal(size=(out, hidden)), rng.normal(size=out)
    X, Y = rng.normal(size=(n_in, n)), rng.normal(size=(out, n))
    j = int(rng.integers(hidden))
    distance = float(rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-15, -9))
    b0[j] += distance - (W0 @ X[:, 0] + b0)[j]
    net = {"input": n_in, "loss": "mse", "batch": n,
           "layers": [{"units": hidden, "activation": str(rng.choice(["relu", "leaky_relu"]))},
                      {"units": out, "activation": str(rng.choice(["linear", "tanh", "sigmoid"]))}],
           "params": [{"W": W0.tolist(), "b": b0.tolist()}, {"W": W1.tolist(), "b": b1.tolist()}],
           "data": {"X": X.T.tolist(), "Y": Y.T.tolist()}}
    return net, j, distance


def _planted(spec, j, value):
    """The reference backprop with layer 0's b[j] gradient replaced by ``value``."""
    def impl(params, X, Y):
        _, out = backprop(spec, params, X, Y)
        out[0]["b"][j] = value
        return out
    return impl


def sweep(count, seed):
    rng = np.random.default_rng(seed)
    tally, false_fails = Counter(), []
    for _ in range(count):
        net, j, distance = network(rng)
        spec = load_spec(net)
        _, grads = backprop(spec, spec.parameters(), *spec.batch_data())
        exact = float(grads[0]["b"][j])
        if not check_network(net, symbolic="off").passed:
            false_fails.append(distance)
            continue
        tally["networks"] += 1
        for plant, factor in PLANTS.items():
            if exact == 0 and factor != 0:
                continue  # the unit is off: only "zeroed" (set to 1) changes its gradient

            impl = _planted(spec, j, exact * factor if exact != 0 else 1.0)
            verdict = str(check_network(net, impl, symbolic="off").tensor("b0").verdict("impl")[j])
            tally[plant, verdict] += 1
    return tally, false_fails


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)
    tally, false_fails = sweep(args.count, args.seed)
    print(f"{tally['networks'] + len(false_fails)} networks, {len(false_fails)} false FAIL"
          + (f" (z at {', '.join(f'{d:.1e}' for d in false_fails)})" if false_fails else ""))
    rows = [[plant, *(tally[plant, v] for v in VERDICTS)] for plant in PLANTS]
    print(tabulate(rows, headers=["plant", *VERDICTS]))
    return 1 if false_fails or any(tally[p, v] for p in PLANTS for v in ("kink", "good")) else 0


if __name__ == "__main__":
    sys.exit(main())
