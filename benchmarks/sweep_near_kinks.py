"""Sweep the judge over kinks closer to θ than every first step: a relu or leaky relu unit whose z, for one sample,
sits 10^U(−15, −9) from 0 on either side.

Run: ``python benchmarks/sweep_near_kinks.py [--count N] [--seed S]`` (a minute). Each network is a random
N-in → hidden relu or leaky relu → out (linear, tanh or sigmoid) with mse, normal params and data, the chosen unit's
bias moved so that its z for sample 0 is the drawn distance from the kink (the other samples' z stay where the draw
put them). For each:

1. the correct run (the reference backprop) must pass: a FAIL is a false FAIL;
2. the unit's bias gradient halved, negated or zeroed (where it is 0, the unit being off, set to 1 instead). Where a
   float64 difference resolves it, the slip must not be judged good or kink: a one-sided difference from θ away from
   the kink, at half the kink's distance (both points on θ's piece), whose rounding floor 4ε·max|C|/s is below a
   tenth of the slip. Where none does (a kink within about 1e-15 of θ under a loss of order one: every step that
   clears it rounds away the slope), the judge takes the kink for one at θ, and any value between its slopes is
   valid there; such plants are counted apart.

It prints each plant's verdicts, resolvable and not; ``benchmarks/sweep_judge.py``'s ``near_kink`` corner covers z
from 1e-9 to 1e-5 against exact oracles.

``--functions`` sweeps ``check_function`` instead, which has no kink states to say where a step lies: f(x) =
Σ_k w_k·σ(a_k·x + c_k) + ½‖x‖² with σ a relu or leaky relu and one term's argument at the drawn distance from 0,
and its exact gradient (on x's side of every kink) must pass.
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

from gradcheck import check_function, check_network, load_spec
from gradcheck.reference.backprop import backprop, cost

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
        floor = _floor(spec, j, distance)
        for plant, factor in PLANTS.items():
            if exact == 0 and factor != 0:
                continue  # the unit is off: only "zeroed" (set to 1) changes its gradient
            value = exact * factor if exact != 0 else 1.0
            verdict = str(check_network(net, _planted(spec, j, value), symbolic="off").tensor("b0").verdict("impl")[j])
            tally[plant, verdict, abs(value - exact) > 10 * floor] += 1
    return tally, false_fails


def _floor(spec, j, distance):
    """The rounding floor 4ε·max|C|/s of a one-sided difference of C along b0[j] from θ, away from the kink, at half
    its distance s (the unit's z moves with b0[j] one for one)."""
    params = spec.parameters()
    X, Y = spec.batch_data()
    c0 = cost(spec, params, X, Y)
    b = params[0]["b"]
    s = abs(distance) / 2
    b[j] += s if distance > 0 else -s
    c1 = cost(spec, params, X, Y)
    return 4 * float(np.finfo(float).eps) * max(abs(c0), abs(c1)) / s


def function(rng):
    """(f, its gradient, x, the distance drawn) of one function with a kink next to x."""
    n, m = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    A, c, w, x = rng.normal(size=(m, n)), rng.normal(size=m), rng.normal(size=m), rng.normal(size=n)
    i = int(rng.integers(m))
    distance = float(rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-15, -9))
    c[i] += distance - (A @ x + c)[i]
    leak = float(rng.choice([0.0, 0.1]))

    def f(v):
        z = A @ v + c
        return float(w @ np.where(z > 0, z, leak * z) + 0.5 * v @ v)

    def grad(v):
        z = A @ v + c
        return A.T @ (w * np.where(z > 0, 1.0, leak)) + v
    return f, grad, x, distance


def sweep_functions(count, seed):
    """(the distances of the kinks of those of ``count`` functions whose exact gradient failed, the slips planted,
    caught and judged good or kink): each function's gradient is checked as it is, and again with one element
    negated and once more ×1.001 (a generator of its own picks the element, so that the functions drawn stay those
    of the seed)."""
    rng, pick = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    false_fails, slips = [], {"planted": 0, "caught": 0, "good or kink": 0}
    for _ in range(count):
        f, grad, x, distance = function(rng)
        if not check_function(f, grad, x).passed:
            false_fails.append(distance)
        at = int(pick.integers(len(x)))
        for change in (-1.0, 1.001):
            def slipped(v, change=change, at=at, grad=grad):
                g = grad(v)
                g[at] *= change
                return g

            if grad(x)[at] == 0:
                continue
            r = check_function(f, slipped, x)
            slips["planted"] += 1
            slips["caught"] += not r.passed
            slips["good or kink"] += r.tensors[0].verdict("analytic").ravel()[at] in ("good", "kink")
    return false_fails, slips


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--functions", action="store_true", help="check_function on functions with a kink next to x")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)
    if args.functions:
        false_fails, slips = sweep_functions(args.count, args.seed)
        print(f"{args.count} functions, {len(false_fails)} false FAIL"
              + (f" (the kink at {', '.join(f'{d:.1e}' for d in false_fails)})" if false_fails else ""))
        print(f"{slips['planted']} slips (an element negated, or ×1.001): {slips['caught']} caught, "
              f"{slips['good or kink']} judged good or kink")
        return 1 if false_fails or slips["good or kink"] else 0
    tally, false_fails = sweep(args.count, args.seed)
    print(f"{tally['networks'] + len(false_fails)} networks, {len(false_fails)} false FAIL"
          + (f" (z at {', '.join(f'{d:.1e}' for d in false_fails)})" if false_fails else ""))
    rows = [[plant, "yes" if resolvable else "no", *(tally[plant, v, resolvable] for v in VERDICTS)]
            for plant in PLANTS for resolvable in (True, False)]
    print(tabulate(rows, headers=["plant", "resolvable", *VERDICTS]))
    false_passes = sum(tally[p, v, True] for p in PLANTS for v in ("kink", "good"))
    print(f"{false_passes} resolvable plant(s) judged good or kink")
    return 1 if false_fails or false_passes else 0


if __name__ == "__main__":
    sys.exit(main())
