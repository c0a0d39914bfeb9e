"""A hypothesis property test of 1,000 small networks, each checked in full with check_network (the work the pytest
plugin's fixture does per example), against the target of 5 s.

Run from the repository root: ``python benchmarks/bench_property.py [--examples N]``. It prints one table row:
examples, seconds, milliseconds per example, the target, and whether it is met. No timing lives in the tests.
"""

from __future__ import annotations

import argparse
import time

from hypothesis import HealthCheck, given, settings
from tabulate import tabulate

from gradcheck import check_network
from gradcheck.strategies import specs

TARGET_S = 5.0


def run(examples):
    count = [0]

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(specs(max_layers=2, max_units=3, max_input=3, smooth=True, options=False))
    def prop(raw):
        count[0] += 1
        assert check_network(raw, symbolic="off").passed

    t0 = time.perf_counter()
    prop()
    return count[0], time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=1000)
    n, seconds = run(ap.parse_args().examples)
    print(tabulate([[n, f"{seconds:.2f}", f"{1e3 * seconds / n:.2f}", f"{TARGET_S:g}",
                     "yes" if seconds <= TARGET_S * n / 1000 else "NO"]],
                   ["examples", "seconds", "ms per example", "target s per 1,000", "met"], disable_numparse=True))


if __name__ == "__main__":
    main()
