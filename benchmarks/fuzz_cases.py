"""Fuzz the worked examples and saved cases: mutate their numbers and ask gradcheck's own backprop to pass its check.

Run: ``python benchmarks/fuzz_cases.py [--count 400] [--seed S] [--out DIR]`` (a minute or two, not a unit test).
Every network of ``derivations/`` and ``tests/cases/`` that gives params or data is a source. Each run takes one at
random (the same ones for the same seed) and changes one to three of the numbers under ``params`` and ``data``:

* scaled by 10^U(−300, 300), or by 10^3 … 10^100;
* set to 0, or to another of its numbers (a tie);
* nudged by 1e-16 … 1e-8 of itself (an ulp or two, or a few thousand);
* a target of 0 given a share of 1e-300 … 1e-17 (beside a 1, a sum that rounds to 1), or a row of targets
  smoothed by 1e-16 … 0.1.

With ``--structure`` the JSON itself is mutated instead, one or two places anywhere in it (every worked example
and saved case is a source): a key deleted or an unknown one added; a value replaced by one of another type (a
string for a number, null, a list around it, a boolean), by an edge of its own type (0, −1, 10^9, 1e308, 5e-324),
or a name by another of the catalogue's names or a misspelt one; a list shortened, lengthened, rotated, emptied
or nested once more. Such input must pass or be refused on *one line* naming where it is wrong (``gradcheck:
FILE: json.path: ...``); a refusal of several lines, or a traceback, counts as a *bad refusal*.

Then ``python -m gradcheck case.json --quiet --symbolic off`` runs on the result (in this process, through
:func:`gradcheck.cli.main`; ``--symbolic on`` adds SymPy's opinion, whose float64 evaluation must pass too). Its
reference backprop is correct by construction, so the exit code must be 0 (pass) or 2 (the input refused, as for a
loss that is not finite); an exit of 1 is a *false FAIL* of the judge, and any exception a *crash*. The table
counts each, and each false FAIL, crash or bad refusal is written to ``--out`` (default: a new temporary folder) as
the mutated net.json with what was changed in its ``description``, to replay with ``python -m gradcheck
CASE.json``.
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

from gradcheck.catalogue import ACTIVATIONS, BIAS_STYLES, CONVENTIONS, LAYER_KINDS, LOSSES  # noqa: E402
from gradcheck.catalogue.losses import REDUCTIONS  # noqa: E402
from gradcheck.cli import main as cli  # noqa: E402


def sources(every=False):
    """(file name, net.json dict) of every example and saved case that gives params or data (``every``: of every
    one)."""
    out = []
    for path in sorted((ROOT / "derivations").glob("*.json")) + sorted((ROOT / "tests" / "cases").glob("*.json")):
        net = json.loads(path.read_text())
        if isinstance(net, dict) and "layers" in net and (every or "params" in net or "data" in net):
            out.append((path.name, net))
    return out


def places(tree, at=(), items=None):
    """The paths of every value under ``tree`` (of a list, its first ``items`` only, where given)."""
    yield at
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from places(value, (*at, key), items)
    elif isinstance(tree, list):
        for i, value in enumerate(tree[:items]):
            yield from places(value, (*at, i), items)


def numbers(tree):
    """The paths of every number (not a bool) under ``tree``."""
    return (p for p in places(tree) if isinstance(v := get(tree, p), (int, float)) and not isinstance(v, bool))


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


#: Names a mutated string may become: the catalogue's kinds, activations, losses, conventions, bias styles and
#: reductions, the penalties, and near misses.
NAMES = (*LAYER_KINDS, *ACTIVATIONS, *LOSSES, *CONVENTIONS, *BIAS_STYLES, *REDUCTIONS, "l1", "l2", "", "x", "Dense",
         "RELU")
#: A list's first this many items are mutated (its numbers are not the point).
ITEMS = 6


def _other(old, rng):
    """What a value of ``old``'s type may become."""
    if isinstance(old, bool) or old is None:
        return rng.choice([0, 1, "yes", None, [], {}])
    if isinstance(old, int):
        return rng.choice([0, -1, 1, old + 1, old - 1, 2 * old, 10**9, 10**30, -10**9, 2.5, "3", None, [old], True])
    if isinstance(old, float):
        return rng.choice([0.0, -old, 1e308, -1e308, 5e-324, 1e200 * old, 1, "nan", "1.0", None, [old], True])
    if isinstance(old, str):
        return rng.choice([*NAMES, None, 3, [old], {}])
    if isinstance(old, list):
        return rng.choice([old[:-1], old + old[-1:], old[1:] + old[:1], [old], [], None, 3, "x", [[]], [None]])
    if isinstance(old, dict):
        return rng.choice([None, [], "x", 1, {}, [old], {**old, rng.choice(list(old) or ["k"]): None}])
    return None


def reshape(net, rng):
    """Change the structure of ``net`` (a copy) at one or two places in place; [(path, what became of it)]."""
    changed = []
    for _ in range(rng.choice([1, 1, 2])):
        path = rng.choice([p for p in places(net, items=ITEMS)
                           if p and not (p[0] in ("params", "data") and len(p) > 4)])
        parent, old = get(net, path[:-1]), get(net, path)
        r = rng.random()
        if r < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
            changed.append((path, "deleted"))
        elif r < 0.2 and isinstance(parent, dict):
            key = rng.choice(["extra", "unit", "activations", "Units"])
            parent[key] = rng.choice([1, "x", None])
            changed.append(((*path[:-1], key), "added"))
        else:
            put(net, path, _other(old, rng))
            changed.append((path, f"{json.dumps(old)[:40]} -> {json.dumps(get(net, path))[:40]}"))
    return changed


def run(net, symbolic="off"):
    """(The command line's exit code on ``net`` (0, 1 or 2), or the name of the exception it raised; what it
    wrote to stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "case.json")
        path.write_text(json.dumps(net))
        err = io.StringIO()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                return cli([str(path), "--quiet", "--symbolic", symbolic]), err.getvalue()
        except BaseException as error:  # a crash is what is being counted
            return f"crash: {type(error).__name__}", err.getvalue()


def outcome_of(code, err):
    """passed, refused, false FAIL, bad refusal (not one line naming where) or crash: ..."""
    if code == 2:
        lines = err.strip().splitlines()
        one = len(lines) == 1 and lines[0].startswith("gradcheck: ") and "Traceback" not in err
        return "refused" if one else "bad refusal"
    return {0: "passed", 1: "false FAIL"}.get(code, str(code))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    parser.add_argument("--structure", action="store_true", help="mutate the JSON's structure, not its numbers")
    parser.add_argument("--symbolic", choices=("off", "auto", "on"), default="off",
                        help="SymPy's opinion too (default off; on: every network, a few times slower)")
    args = parser.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="gradcheck-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    pool = sources(every=args.structure)
    counts, by_source = Counter(), Counter()
    for it in range(args.count):
        name, base = rng.choice(pool)
        net = copy.deepcopy(base)
        changed = reshape(net, rng) if args.structure else mutate(net, rng)
        outcome = outcome_of(*run(net, args.symbolic))
        counts[outcome] += 1
        if outcome not in ("passed", "refused"):
            by_source[name] += 1
            if isinstance(net, dict):
                net["description"] = f"fuzz_cases.py seed {args.seed} run {it}, from {name}: changed {changed}"
            (out / f"{Path(name).stem}_{args.seed}_{it}.json").write_text(json.dumps(net, indent=1) + "\n")
    rows = [[key, counts.get(key, 0)] for key in ("passed", "refused", "false FAIL", "bad refusal")]
    rows += [[key, n] for key, n in sorted(counts.items()) if key.startswith("crash")]
    what = "restructured" if args.structure else "mutated"
    print(f"{args.count} {what} networks from {len(pool)} examples and saved cases, seed {args.seed}")
    print(tabulate(rows, headers=["outcome", "networks"]))
    if by_source:
        print(f"\nwritten to {out}: " + ", ".join(f"{n} from {name}" for name, n in by_source.items()))
    return 1 if set(counts) - {"passed", "refused"} else 0


if __name__ == "__main__":
    sys.exit(main())
