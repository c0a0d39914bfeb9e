"""Compare gradients element by element: errors, verdict bands, blame tables, result objects.

For an analytic value a and a numeric value n of one element:

    abs_err = |a − n|,   rel_err = |a − n| / max(|a|, |n|, TINY)

The element is **good** when ``abs_err <= atol`` or ``rel_err <= rtol`` (the absolute
floor keeps near-zero gradients from failing on rounding noise). Otherwise it is
**suspicious** (rel_err < :data:`SUSPICIOUS`: finite-difference noise, float32, a loose
tolerance) or **wrong**. An element whose finite difference crossed a kink (relu at 0)
is **kink**: the numeric value is not a derivative there, so it is reported, not judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ATOL",
    "RTOL",
    "SUSPICIOUS",
    "TINY",
    "CheckResult",
    "ElementBlame",
    "TensorCheck",
    "errors",
    "verdicts",
]

#: Default relative tolerance: central differences in float64 are good to ~1e-8 here.
RTOL = 1e-5
#: Default absolute floor, for elements whose true gradient is ~0.
ATOL = 1e-7
#: Relative errors below this (but above rtol) are "suspicious" rather than "wrong".
SUSPICIOUS = 1e-2
TINY = 1e-300
BANDS = ("good", "kink", "suspicious", "wrong")


def errors(analytic, numeric):
    """(abs_err, rel_err) arrays for two arrays of the same shape."""
    a, n = np.asarray(analytic, float), np.asarray(numeric, float)
    abs_err = np.abs(a - n)
    with np.errstate(invalid="ignore"):
        rel_err = abs_err / np.maximum(np.maximum(np.abs(a), np.abs(n)), TINY)
    rel_err = np.where(np.isnan(abs_err) | np.isnan(rel_err), np.inf, rel_err)
    return np.where(np.isnan(abs_err), np.inf, abs_err), rel_err


def verdicts(abs_err, rel_err, rtol=RTOL, atol=ATOL, kinks=None):
    """Array of band names ("good", "kink", "suspicious", "wrong") for each element."""
    good = (abs_err <= atol) | (rel_err <= rtol)
    out = np.where(good, "good", np.where(rel_err < SUSPICIOUS, "suspicious", "wrong")).astype(object)
    if kinks is not None:
        out[np.asarray(kinks, bool) & ~good] = "kink"
    return out


@dataclass
class ElementBlame:
    """One row of a blame table."""

    param: str
    index: tuple
    opinion: str
    analytic: float
    numeric: float
    abs_err: float
    rel_err: float
    verdict: str

    @property
    def element(self):
        """``"W0[1, 2]"``."""
        return f"{self.param}[{', '.join(str(i) for i in self.index)}]" if self.index else self.param

    def row(self):
        return [self.element, self.opinion, self.analytic, self.numeric, self.abs_err, self.rel_err, self.verdict]

    def __repr__(self):
        return (f"ElementBlame({self.element} {self.opinion}: {self.analytic:.6g} vs numeric "
                f"{self.numeric:.6g}, rel {self.rel_err:.2g} → {self.verdict})")


BLAME_HEADERS = ["element", "checked", "analytic", "numeric", "abs err", "rel err", "verdict"]


@dataclass
class TensorCheck:
    """One parameter tensor: every opinion's values and, for each checked opinion, its errors vs numeric.

    ``values`` maps an opinion ("backprop", "numeric", "symbolic", "impl", or "analytic")
    to an array of the parameter's shape. ``checked`` lists the opinions judged
    against ``values["numeric"]``.
    """

    name: str
    layer: int | None
    kind: str | None
    shape: tuple
    values: dict
    checked: tuple
    rtol: float = RTOL
    atol: float = ATOL
    kinks: np.ndarray | None = None
    problem: str | None = None  # e.g. the user's gradient has the wrong shape
    _err: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        ref = self.values["numeric"]
        for op in self.checked:
            v = self.values.get(op)
            if v is None or np.shape(v) != np.shape(ref):
                continue
            ab, rel = errors(v, ref)
            self._err[op] = (ab, rel, verdicts(ab, rel, self.rtol, self.atol, self.kinks))

    def verdict(self, opinion):
        """Per-element verdict array for ``opinion`` (None if it could not be compared)."""
        return self._err[opinion][2] if opinion in self._err else None

    def opinion_passed(self, opinion):
        if opinion not in self._err:
            return False
        return bool(np.all((self._err[opinion][2] == "good") | (self._err[opinion][2] == "kink")))

    @property
    def passed(self):
        return self.problem is None and all(self.opinion_passed(op) for op in self.checked)

    def max_errors(self, opinion=None):
        """(max abs err, max rel err) over the checked opinions (or one), ignoring kinks."""
        ops = [opinion] if opinion else list(self.checked)
        ab = rel = 0.0
        for op in ops:
            if op not in self._err:
                return float("inf"), float("inf")
            a, r, v = self._err[op]
            mask = v != "kink"
            if mask.any():
                ab, rel = max(ab, float(a[mask].max())), max(rel, float(r[mask].max()))
        return ab, rel

    @property
    def max_abs_error(self):
        return self.max_errors()[0]

    @property
    def max_rel_error(self):
        return self.max_errors()[1]

    @property
    def n_kinks(self):
        return 0 if self.kinks is None else int(np.asarray(self.kinks).sum())

    def blame(self, opinion=None):
        """All :class:`ElementBlame` rows for the checked opinions (or one), unsorted."""
        rows = []
        for op in [opinion] if opinion else self.checked:
            if op not in self._err:
                continue
            ab, rel, ver = self._err[op]
            val, ref = np.asarray(self.values[op]), np.asarray(self.values["numeric"])
            for idx in np.ndindex(*np.shape(ref)):
                rows.append(ElementBlame(self.name, idx, op, float(val[idx]), float(ref[idx]),
                                         float(ab[idx]), float(rel[idx]), str(ver[idx])))
        return rows

    def __repr__(self):
        status = "PASS" if self.passed else ("PROBLEM: " + self.problem if self.problem else "FAIL")
        return (f"TensorCheck({self.name} {self.shape}: max abs {self.max_abs_error:.2g}, "
                f"max rel {self.max_rel_error:.2g}, {status})")


def _badness(row):
    return (BANDS.index(row.verdict), row.rel_err if np.isfinite(row.rel_err) else 1e308, row.abs_err)


@dataclass
class CheckResult:
    """The outcome of a check: per-tensor results, a blame table, a diagnosis and notes.

    ``str(result)`` is a readable report; ``bool(result)`` is ``result.passed``.
    """

    name: str
    tensors: list
    opinions: tuple
    checked: tuple
    rtol: float = RTOL
    atol: float = ATOL
    diagnosis: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def passed(self):
        return not self.problems and all(t.passed for t in self.tensors)

    def __bool__(self):
        return self.passed

    @property
    def max_abs_error(self):
        return max((t.max_abs_error for t in self.tensors), default=0.0)

    @property
    def max_rel_error(self):
        return max((t.max_rel_error for t in self.tensors), default=0.0)

    def tensor(self, name):
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"no parameter {name!r}; have {[t.name for t in self.tensors]}")

    def blame(self, n=10, opinion=None, include_good=True):
        """The ``n`` worst elements (wrong first, then suspicious, then largest rel err)."""
        rows = [r for t in self.tensors for r in t.blame(opinion)]
        rows.sort(key=_badness, reverse=True)
        if not include_good:
            rows = [r for r in rows if r.verdict not in ("good",)]
        return rows[:n] if n else rows

    def counts(self):
        """{band: number of elements} over all checked opinions."""
        out = dict.fromkeys(BANDS, 0)
        for r in (r for t in self.tensors for r in t.blame()):
            out[r.verdict] += 1
        return out

    def summary_rows(self):
        rows = []
        for t in self.tensors:
            ab, rel = t.max_errors()
            status = "ok" if t.passed else ("PROBLEM" if t.problem else "FAIL")
            rows.append([t.name, "x".join(map(str, t.shape)) or "()", ab, rel, t.n_kinks, status])
        return rows

    def __str__(self):
        from tabulate import tabulate

        head = (f"{self.name}: {'PASS' if self.passed else 'FAIL'} "
                f"({', '.join(self.checked)} vs numeric; rtol={self.rtol:g}, atol={self.atol:g})")
        parts = [head]
        parts += [f"problem: {p}" for p in self.problems]
        parts.append(tabulate(self.summary_rows(), ["param", "shape", "max abs err", "max rel err", "kinks",
                                                    "status"], floatfmt=".2e"))
        bad = self.blame(n=8, include_good=False)
        if bad:
            parts.append("worst elements:")
            parts.append(tabulate([r.row() for r in bad], BLAME_HEADERS, floatfmt=".6g"))
        parts += [f"diagnosis: {d}" for d in self.diagnosis]
        parts += [f"note: {n}" for n in self.notes]
        return "\n".join(parts)

    def __repr__(self):
        worst = self.blame(n=1)
        w = f", worst {worst[0].element} rel {worst[0].rel_err:.2g}" if worst else ""
        return (f"<CheckResult {self.name}: {'passed' if self.passed else 'FAILED'}, "
                f"{len(self.tensors)} tensors, max rel err {self.max_rel_error:.2g}{w}>")
