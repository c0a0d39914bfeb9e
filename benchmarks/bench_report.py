"""Time the derivation reports (gradcheck.reports.derivation) against a baseline measured in the same run.

    python benchmarks/bench_report.py

For every worked example in derivations/: the time to write its report in Markdown,
HTML, LaTeX and JSON as ``report_files`` does (the check's derivation reused, the blocks
built once, each formula printed once and its pieces measured from remembered
subexpressions), against the baseline of writing each format from scratch with every
subexpression printed again wherever a formula is cut into pieces (which is how the
reports were written before). The check itself is run once per example, outside both
timings. No assertions: a report.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

from sympy.core.cache import clear_cache
from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradcheck.checks.network import check_network
from gradcheck.render import mathprint
from gradcheck.reports.derivation import REPORT_FORMATS, build_report, report_content
from gradcheck.spec.parse import load_spec

ROOT = Path(__file__).resolve().parents[1]


def _forget():
    clear_cache()  # SymPy's own: neither way starts warm
    mathprint._Str._memo.clear()
    mathprint.to_latex.cache_clear()
    mathprint.to_mathml.cache_clear()


@contextmanager
def _no_memory():
    """Printing as it was: no remembered subexpressions, no remembered LaTeX or MathML."""
    plain = mathprint._Str()
    plain._print = lambda expr, **kw: mathprint.StrPrinter._print(plain, expr, **kw)
    saved = mathprint._TEXT, mathprint.to_latex, mathprint.to_mathml
    mathprint._TEXT = plain
    mathprint.to_latex, mathprint.to_mathml = saved[1].__wrapped__, saved[2].__wrapped__
    try:
        yield
    finally:
        mathprint._TEXT, mathprint.to_latex, mathprint.to_mathml = saved


def _now(result):
    content = report_content(result)
    return [build_report(result, fmt, content) for fmt in REPORT_FORMATS]


def _before(result):
    with _no_memory():
        derivation, result.derivation = result.derivation, None  # the report derived the network again
        try:
            return [build_report(result, fmt, report_content(result)) for fmt in REPORT_FORMATS]
        finally:
            result.derivation = derivation


def main():
    rows, totals = [], [0.0, 0.0]
    for path in sorted((ROOT / "derivations").glob("*.json")):
        spec = load_spec(str(path))
        result = check_network(spec)
        times = []
        for build in (_before, _now):
            _forget()
            start = time.perf_counter()
            out = build(result)
            times.append(time.perf_counter() - start)
        assert out == _before(result), f"{path.name}: the two ways wrote different reports"
        totals = [a + b for a, b in zip(totals, times)]
        rows.append([path.stem, spec.n_params, f"{times[0]:.2f}", f"{times[1]:.2f}", f"{times[0] / times[1]:.1f}x"])
    rows.append(["all", "", f"{totals[0]:.2f}", f"{totals[1]:.2f}", f"{totals[0] / totals[1]:.1f}x"])
    print(tabulate(rows, ["example", "params", "baseline s", "now s", "speed-up"], colalign=("left", "right",
                                                                                           "right", "right",
                                                                                           "right")))


if __name__ == "__main__":
    main()
