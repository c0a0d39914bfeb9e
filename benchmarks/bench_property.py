"""A hypothesis property test of 1,000 small networks through the pytest plugin's ``gradcheck`` fixture, against
the target of 5 s; beside it, the same examples checked by calling check_network directly (the fixture's own cost
is the difference), and as many examples drawn by a test that does nothing (Hypothesis's engine and the strategy's
draws: the floor no speed of the check removes).

Run from the repository root: ``python benchmarks/bench_property.py [--examples N]``. The fixture row runs a real
pytest session in a fresh process on a test file written to a temporary folder:

    @given(specs(...))
    def test_networks(gradcheck, raw):
        gradcheck.network(raw)

and reports the test's own duration (pytest's ``--durations``, the figure a user sees for the test) and the whole
process (start-up, collection and NumPy's import included). It prints one table; no timing lives in the tests.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's gradcheck, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import user_env, warm_bytecode

from gradcheck import check_network
from gradcheck.strategies import specs

TARGET_S = 5.0
STRATEGY = "specs(max_layers=2, max_units=3, max_input=3, smooth=True, options=False)"
SETTINGS = "max_examples={n}, deadline=None, database=None, suppress_health_check=list(HealthCheck)"

TEST_FILE = f'''
from hypothesis import HealthCheck, given, settings

from gradcheck.strategies import specs

COUNT = []


@settings({SETTINGS})
@given({STRATEGY})
def test_networks(gradcheck, raw):
    COUNT.append(1)
    gradcheck.network(raw)


def test_zz_count():
    assert len(COUNT) == {{n}}, len(COUNT)
'''


def direct(examples):
    """(examples run, seconds) of the property test calling check_network itself, in this process."""
    count = [0]

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(specs(max_layers=2, max_units=3, max_input=3, smooth=True, options=False))
    def prop(raw):
        count[0] += 1
        assert check_network(raw, symbolic="off").passed

    t0 = time.perf_counter()
    prop()
    return count[0], time.perf_counter() - t0


def drawing_alone(examples):
    """(examples drawn, seconds) of the same property test with a body that does nothing: Hypothesis's engine and the
    strategy's draws, the part of the test no speed of the check removes."""
    count = [0]

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(specs(max_layers=2, max_units=3, max_input=3, smooth=True, options=False))
    def prop(raw):
        count[0] += 1

    t0 = time.perf_counter()
    prop()
    return count[0], time.perf_counter() - t0


def through_fixture(examples):
    """(test duration s, whole pytest process s) of the property test through the fixture, in a fresh pytest."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test_property.py").write_text(TEST_FILE.format(n=examples))
        warm_bytecode()  # as an installed package has it (see machine.user_env)
        checkout = str(Path(__file__).resolve().parents[1])  # this checkout's gradcheck, not an installed one
        env = user_env(PYTHONPATH=os.pathsep.join(filter(None, [checkout, os.environ.get("PYTHONPATH")])))
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "--durations=0", "--durations-min=0", "-o", "addopts=", "test_property.py"],
                             cwd=tmp, env=env, capture_output=True, text=True)
        whole = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"the property test failed:\n{out.stdout[-3000:]}\n{out.stderr[-2000:]}")
    found = re.search(r"([0-9.]+)s call\s+test_property.py::test_networks", out.stdout)
    if found is None:
        raise SystemExit(f"no duration for test_networks in pytest's output:\n{out.stdout[-2000:]}")
    return float(found.group(1)), whole


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=1000)
    n = ap.parse_args().examples
    target = TARGET_S * n / 1000
    call, whole = through_fixture(n)
    ran, seconds = direct(n)
    drawn, floor = drawing_alone(n)
    rows = [["the plugin's fixture: the test's duration", n, f"{call:.2f}", f"{1e3 * call / n:.2f}", f"{target:g}",
             "yes" if call <= target else "NO"],
            ["the same: the whole pytest process", n, f"{whole:.2f}", f"{1e3 * whole / n:.2f}", "", ""],
            ["check_network called directly", ran, f"{seconds:.2f}", f"{1e3 * seconds / ran:.2f}", "", ""],
            ["as many drawn, the test doing nothing (the floor)", drawn, f"{floor:.2f}",
             f"{1e3 * floor / drawn:.2f}", "", ""]]
    print(tabulate(rows, ["property test", "examples", "seconds", "ms per example", "target s", "met"],
                   disable_numparse=True))


if __name__ == "__main__":
    main()
