"""Fuzz the worked examples and saved cases: mutate their numbers and ask gradcheck's own backprop to pass its check.

Run: ``python benchmarks/fuzz_cases.py [--count 400] [--seed S] [--out DIR]`` (a minute or two, not a unit test).
Every network of ``derivations/`` and ``tests/cases/`` that gives params or data is a source. Each run takes one at
random (the same ones for the same seed) and changes one to three of the numbers under ``params`` and ``data``:

* scaled by 10^U(−300, 300), or by 10^3 … 10^100;
* set to 0, or to another of its numbers (a tie);
* nudged by 1e-16 … 1e-8 of itself (an ulp or two, or a few thousand);
* a target of 0 given a share of 1e-300 … 1e-17 (beside a 1, a sum that rounds to 1), or a row of targets
  smoothed by 1e-16 … 0.1.

Then ``python -m gradcheck case.json --quiet --symbolic off`` runs on the result (in this process, through
:func:`gradcheck.cli.main`). Its reference backprop is correct by construction, so the exit code must be 0 (pass)
or 2 (the input refused, as for a loss that is not finite); an exit of 1 is a *false FAIL* of the judge, and any
exception a *crash*. The table counts each, and each false FAIL or crash is written to ``--out`` (default: a new
temporary folder) as the mutated net.json with what was changed in its ``description``, to replay with
``python -m gradcheck CASE.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gradcheck, whatever copy the environment has installed

from gradcheck.cli import main as cli  # noqa: E402


def sources():
    """(file name, net.json dict) of every example and saved case that gives params or data."""
    out = []
    for path in sorted((ROOT / "derivations").glob("*.json")) + sorted((ROOT / "tests" / "cases").glob("*.json")):
        net = json.loads(path.read_text())
        if isinstance(net, dict) and "layers" in net and ("params" in net or "data" in net):
            out.append((path.name, net))
    return out


def numbers(tree, at=()):
    """The paths of every number (not a bool) under ``tree``."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from numbers(value, (*at, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from numbers(value, (*at, i))
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield at


def get(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def put(tree, path, value):
    get(tree, path[:-1])[path[-1]] = value


def mutate(net, rng):
    """Change one to three numbers of ``net`` (a copy) in place; [(path, old, new)]."""
    changeable = [p for p in numbers(net) if p and p[0] in ("params", "data")
                  and not (p[:2] == ("data", "Y") and isinstance(get(net, p), int))]  # class labels stay labels
    targets = [p for p in changeable if p[:2] == ("data", "Y")]
    changed = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        path, old = None, None
        r = rng.random()
        if r < 0.12 and targets:  # a target's share: tiny beside a 1, or the row smoothed
            path = rng.choice(targets)
            old = get(net, path)
            row = get(net, path[:-1])
            if old == 0 and rng.random() < 0.7:
                new = 10.0 ** rng.uniform(-300, -17)
            else:
                eps = rng.choice([1e-16, 1e-12, 1e-8, 0.1])
                for i, y in enumerate(row):
                    row[i] = y * (1 - eps) + eps / len(row)
                changed.append((path[:-1], "row", f"smoothed by {eps:g}"))
                continue
        elif changeable:
            path = rng.choice(changeable)
            old = get(net, path)
            if r < 0.5:
                new = old * 10 ** rng.uniform(-300, 300) if old else 10 ** rng.uniform(-300, 300)
            elif r < 0.62:
                new = old * 10 ** rng.choice([3, 6, 10, 20, 50, 100])
            elif r < 0.72:
                new = 0.0
            elif r < 0.86:
                new = get(net, rng.choice(changeable))
            else:
                new = old * (1 + rng.choice([1e-16, 2.2e-16, -1e-16, 1e-12, 1e-8]))
        if path is None or (isinstance(new, float) and not math.isfinite(new)):
            continue
        put(net, path, new)
        changed.append((path, old, new))
    return changed


def run(net):
    """The command line's exit code on ``net`` (0, 1 or 2), or the name of the exception it raised."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "case.json")
        path.write_text(json.dumps(net))
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                return cli([str(path), "--quiet", "--symbolic", "off"])
        except BaseException as error:  # a crash is what is being counted
            return f"crash: {type(error).__name__}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="gradcheck-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    pool = sources()
    counts, by_source = Counter(), Counter()
    for it in range(args.count):
        name, base = rng.choice(pool)
        net = copy.deepcopy(base)
        changed = mutate(net, rng)
        code = run(net)
        outcome = {0: "passed", 2: "refused"}.get(code, "false FAIL" if code == 1 else str(code))
        counts[outcome] += 1
        if outcome not in ("passed", "refused"):
            by_source[name] += 1
            net["description"] = f"fuzz_cases.py seed {args.seed} run {it}, from {name}: changed {changed}"
            (out / f"{Path(name).stem}_{args.seed}_{it}.json").write_text(json.dumps(net, indent=1) + "\n")
    rows = [[key, counts.get(key, 0)] for key in ("passed", "refused", "false FAIL")]
    rows += [[key, n] for key, n in sorted(counts.items()) if key.startswith("crash")]
    print(f"{args.count} mutated networks from {len(pool)} examples and saved cases, seed {args.seed}")
    print(tabulate(rows, headers=["outcome", "networks"]))
    if by_source:
        print(f"\nwritten to {out}: " + ", ".join(f"{n} from {name}" for name, n in by_source.items()))
    return 1 if set(counts) - {"passed", "refused"} else 0


if __name__ == "__main__":
    sys.exit(main())
