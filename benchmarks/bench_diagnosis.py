"""How often the diagnosis names a mistake correctly, over the collection of realistic mistakes in tests/impls/.

Run: ``python benchmarks/bench_diagnosis.py [-v]``. Every case of tests/impls/collection.py
runs through ``check_network`` (as the CLI does with ``--impl``) and is classified as
"named" (the expected cause is named), "localised" (a mistake gradcheck does not know,
located without naming a cause: the right answer for those), "missed" or "wrong cause".
Targets: at least 90% of the known mistakes named, and no wrong cause at all.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's gradcheck, not an installed one

from gradcheck import check_network

IMPLS = Path(__file__).resolve().parent.parent / "tests" / "impls"
sys.path.insert(0, str(IMPLS))
from collection import CASES, diagnosis_text, verdict  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case's diagnosis")
    args = parser.parse_args(argv)
    rows, by_style = [], {}
    t0 = time.perf_counter()
    for case in CASES:
        result = check_network(case.spec, case.target, symbolic="off")
        v = verdict(case, result)
        by_style.setdefault(case.style, Counter())[v] += 1
        if args.verbose or v in ("missed", "wrong cause"):
            rows.append([case.name, v, diagnosis_text(result)[:160]])
    elapsed = time.perf_counter() - t0
    if rows:
        print(tabulate(rows, ["case", "verdict", "diagnosis"]))
        print()
    table, total = [], Counter()
    for style, counts in sorted(by_style.items()):
        total += counts
        table.append([style, sum(counts.values()), counts["named"], counts["localised"], counts["missed"],
                      counts["wrong cause"]])
    table.append(["all", sum(total.values()), total["named"], total["localised"], total["missed"],
                  total["wrong cause"]])
    print(tabulate(table, ["style", "cases", "named", "localised (unknown)", "missed", "wrong cause"]))
    known = sum(1 for c in CASES if c.expect)
    share = total["named"] / known if known else 0.0
    print(f"\nknown mistakes named correctly: {total['named']}/{known} = {share:.1%} (target ≥ 90%); "
          f"wrong causes: {total['wrong cause']} (target 0); {len(CASES)} cases in {elapsed:.1f} s")
    return 0 if share >= 0.9 and not total["wrong cause"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
