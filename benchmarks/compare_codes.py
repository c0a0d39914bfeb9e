"""Two versions of gradcheck timed in turn in one process: which is faster, where separate runs are too noisy to say.

Run: ``python benchmarks/compare_codes.py BASE NEW [--rounds 40] [--nets 16-32-16-4,64-128-64-10]
[--convention column]``, where BASE and NEW are checkouts (directories holding a ``gradcheck/`` package, such as
``git worktree add ../base HEAD~1`` makes). Each package is copied under a name of its own and both are imported
into this process; every network's full check (``check_network(spec, symbolic="off", mode="full")``, N=32, tanh
hidden, a linear output, mse, one BLAS thread) then runs for both in turn, a round of checks of about 50 ms each,
the order swapped every round.

On a shared machine the same code's separate runs differ by 5% and more from one minute to the next, far more than
most changes a speed-up makes; neighbouring rounds in one process see the same machine. So the figure is the median
over rounds of NEW's time over BASE's in the same round (below 1: NEW is faster), beside each code's best and median
round. A change of 1% shows in 40 rounds; the same code against itself gives 1.00 within about half a percent.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the check's own setting, before NumPy loads

from tabulate import tabulate

NAMES = ("gradcheck_base", "gradcheck_new")
#: About this long a round of each code's checks.
ROUND_SECONDS = 0.05


def load(checkouts, into):
    """Each checkout's ``gradcheck`` package copied into ``into`` under :data:`NAMES` and imported (the package
    imports itself relatively only, so each copy runs its own code)."""
    for name, checkout in zip(NAMES, checkouts):
        package = Path(checkout) / "gradcheck"
        if not (package / "__init__.py").is_file():
            raise SystemExit(f"compare_codes: {checkout} holds no gradcheck package (expected {package})")
        shutil.copytree(package, Path(into, name), ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(into))
    return [importlib.import_module(name) for name in NAMES]


def spec_of(package, sizes, convention):
    layers = [{"units": u, "activation": "tanh"} for u in sizes[1:-1]] + [{"units": sizes[-1]}]
    return package.load_spec({"input": sizes[0], "layers": layers, "batch": 32, "loss": "mse",
                              "convention": convention})


def compare(packages, sizes, rounds, convention):
    """(each code's round times in ms, NEW/BASE per round) for the network of layer widths ``sizes``."""
    specs = [spec_of(p, sizes, convention) for p in packages]
    for package, spec in zip(packages, specs):
        for _ in range(3):
            start = time.perf_counter()
            package.check_network(spec, symbolic="off", mode="full")
    checks = max(1, round(ROUND_SECONDS / (time.perf_counter() - start)))
    times = [[], []]
    for r in range(rounds):
        for k in ((0, 1) if r % 2 == 0 else (1, 0)):
            package, spec = packages[k], specs[k]
            start = time.perf_counter()
            for _ in range(checks):
                package.check_network(spec, symbolic="off", mode="full")
            times[k].append((time.perf_counter() - start) / checks * 1e3)
    return times, [new / base for base, new in zip(*times)]


def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--nets", default="16-32-16-4,64-128-64-10")
    parser.add_argument("--convention", default="column", choices=("column", "row"))
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as into:
        packages = load((args.base, args.new), into)
        for net in args.nets.split(","):
            sizes = [int(x) for x in net.split("-")]
            (base, new), ratios = compare(packages, sizes, args.rounds, args.convention)
            rows.append([net, f"{min(base):.3f}", f"{median(base):.3f}", f"{min(new):.3f}", f"{median(new):.3f}",
                         f"{median(ratios):.4f}"])
    print(f"{args.rounds} rounds in turn, {args.convention} convention, one BLAS thread; ms per check")
    print(tabulate(rows, headers=["net", "BASE best", "BASE median", "NEW best", "NEW median",
                                  "NEW / BASE, median of rounds"]))


if __name__ == "__main__":
    main()
