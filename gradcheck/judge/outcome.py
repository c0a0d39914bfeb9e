"""The outcome of a check: every tensor's :class:`~gradcheck.judge.compare.TensorCheck`, the worst elements,
notes, problems and the diagnosis, with a readable ``str``, notebook display and a repr."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bands import ATOL, BANDS, RTOL
from .compare import REASONS
from .tolerances import tolerance

#: What each reason of :data:`~gradcheck.judge.compare.REASONS` means, and the way out, in a note on the elements
#: it leaves inconclusive.
UNJUDGED = {
    "overflowed": ("gradcheck's own backprop overflows there, and so does the value checked: an intermediate of "
                   "the chain rule (a δ times weights of 1e229) goes beyond float64's range even where the gradient "
                   "itself does not, so a float64 backprop's value there is inf or NaN and cannot be judged",
                   "params and data of moderate size"),
    "unmeasured": ("the loss is not finite at any step the finite difference takes (it overflows, or is NaN), so "
                   "none can be taken", "params and data of moderate size"),
    "flat": ("f's value does not change at the steps taken there, or only in whole steps far above an ulp of it "
             "(a loss saturated to exactly 0, or computed from probabilities within an ulp or so of 1), so a slope "
             "whose change at those steps stays below f's rounding at the scale of its terms cannot be resolved",
             "compute f so that it keeps its small changes (log1p(u) for log(1 + u): −log p_y as "
             "log1p(Σ_j≠y exp(s_j − s_y)) where the right score leads), or check at a point where it is not "
             "saturated"),
    "coarse_f": ("f computes in float32, whose rounding bounds its finite differences (to about 1e-4 of the slope "
                 "at best, with float32-sized steps) above the tolerance there",
                 "compute f in float64 to check a gradient to the default rtol, or give rtol=1e-3, what float32 "
                 "allows"),
    "blind": ("the finite difference finds no change of the loss there beyond its rounding, at any step, while "
              "gradcheck's own backprop finds a slope: the loss changes only within a width narrower than any step "
              "a float64 difference can take (values of very different sizes meeting in one sum or norm), so no "
              "finite difference can judge them", "inputs and weights of moderate size"),
    "replaced": ("only a second estimate (steps grown far past the default ones, or the loss's rounding measured "
                 "along the element's own axis) finds the slope there that calls gradcheck's own backprop wrong, "
                 "and the backprop agrees with the default steps' estimate: the loss has a feature the second "
                 "estimate's assumption misses (differences that level off at wide steps, or rounding a few points "
                 "underestimate), so no finite difference can judge them", "inputs and weights of moderate size"),
    "narrow": ("gradcheck's own backprop, run again at the ends of the finite difference's steps, gives the "
               "difference's value from there, and only at the point itself another slope: the loss's slope changes "
               "within the steps, a feature narrower than they are (an input of 1e90 under a tiny weight, "
               "saturating what it feeds within 1e-90 of the point), and no smaller steps tried (down to 2^-28 "
               "of them, while their rounding still resolves the question) measure the slope at the point, so "
               "these differences cannot judge them",
               "inputs and weights of moderate size"),
    "near_kink": ("beside a kink closer than any step resolves (see the note above), the value lies between the "
                  "slopes the steps saw on its two sides, or nothing says that the steps crossed that one kink alone",
                  "a point farther from the kink (in a network, other inputs, weights or biases: a unit's z this "
                  "close to its kink is chance)"),
    "vague": ("the value agrees with the finite difference within the tolerance, but the difference's own error "
              "there is above thirty times the tolerance even at the steps tried again, so the agreement certifies "
              "nothing to the tolerance (a slip of 1e-3 can agree with such an estimate by chance)",
              "a larger rtol, or a function whose value is not dominated by a large constant or sum at x"),
}

__all__ = ["CheckResult"]


def _badness(row):
    rank = BANDS.index(row.verdict) if row.verdict in BANDS else -1
    return rank, row.rel_err if np.isfinite(row.rel_err) else 1e308, row.abs_err


@dataclass
class CheckResult:
    """The outcome of a check: per-tensor results, a blame table, a diagnosis and notes.

    ``str(result)`` is a readable report; ``bool(result)`` is ``result.passed``. After the verdicts it
    carries what the check ran on and found, for the renderers and reports: each is None where the
    check has none (a function check has no ``spec``; a passing one no ``line_trace``).
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
    spec: object = None  # the network's Spec (a network check)
    shape_trace: object = field(default=None, repr=False)  # the ShapeTrace, if made; read it as ``trace``
    loss: float | None = None
    params: list | None = None  # the parameters checked, one {"W": ..., "b": ...} per layer
    X: object = None
    Y: object = None
    method: str | None = None  # the finite-difference method that ran
    mode: str | None = None  # "full" or "sampled": the mode that ran
    directions: list | None = None  # a sampled check's random directional derivatives
    derivation: object = None  # the SymPy Derivation, when the check ran SymPy
    line_trace: object = None  # the user's code traced line by line, when it failed
    impl_output: str | None = None  # what the user's backprop printed to stdout
    f0: float | None = None  # check_function/check_layer: f (or forward's scalar) at x
    x: object = None  # check_function's x
    dout: object = None  # check_layer's random dout
    intermediates: list | None = None  # the user's own a, δ, loss (or intermediates=) compared: [Intermediate]

    #: The fields after the verdicts, which ``extra`` lists.
    CARRIED = ("spec", "trace", "loss", "params", "X", "Y", "method", "mode", "directions", "derivation", "line_trace",
               "impl_output", "f0", "x", "dout", "intermediates")

    @property
    def extra(self):
        """{field: value} of the carried fields that are set (read-only; the fields themselves are the interface)."""
        return {name: getattr(self, name) for name in self.CARRIED if getattr(self, name) is not None}

    @property
    def trace(self):
        """The network's :class:`~gradcheck.reference.shapes.ShapeTrace`, traced when first read (most checks never
        print it); None for a function check."""
        if self.shape_trace is None and self.spec is not None:
            from ..reference.shapes import trace_shapes

            self.shape_trace = trace_shapes(self.spec)
        return self.shape_trace

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

    def __post_init__(self):
        self.notes = list(self.notes) + self.judge_notes()

    def judge_notes(self):
        """Notes on float32 gradients and inconclusive elements (added to ``notes``)."""
        out = []
        named = [t.name for t in self.tensors if t.float32]
        if named:
            rtol = tolerance("float32").judged_rtol(self.rtol)
            out.append(f"your gradients are float32 ({', '.join(named)}): judged with float32 tolerances "
                       f"(rtol {rtol:.2g} plus float32 rounding); use float64 for a tighter check")
        inconclusive = sum(t.count("inconclusive") for t in self.tensors)
        if not inconclusive:  # every note below counts a part of the inconclusive elements
            return out
        swamped = sum(t.swamped() for t in self.tensors)
        if swamped:
            out.append(f"{swamped} element(s) inconclusive: they differ from the finite difference beyond the "
                       "tolerance, but a correct float64 backprop's rounding there is as large as the gradient "
                       "itself, or as large as a difference of 1% of it or more (a saturated output, where "
                       "δ = a − y rounds to 0, or a gradient that cancels far below the terms it sums), so no "
                       "value of theirs can be judged; they do not fail. Way out: smaller weights or inputs, so "
                       "the outputs do not saturate")
        unjudged = 0
        for reason in REASONS:
            k = sum(t.unjudged(reason) for t in self.tensors)
            if k:
                first = next(f for t in self.tensors if (f := t.first("inconclusive", swamped=False, within=reason)))
                meaning, way_out = UNJUDGED[reason]
                out.append(f"{k} element(s) inconclusive (first {first}): {meaning}; they do not fail. Way out: "
                           f"{way_out}")
                unjudged += k
        n = inconclusive - swamped - unjudged
        if n:
            first = next(f for t in self.tensors
                         if (f := t.first("inconclusive", swamped=False, outside=REASONS)) is not None)
            out.append(f"{n} element(s) inconclusive (first {first}): the finite difference's own error "
                       "bound is larger than the tolerance there, so it cannot decide; they do not fail. Way out: "
                       "a more accurate method (--method richardson, or complex-step where every operation is "
                       "smooth), a larger rtol, or smaller weights/inputs so the loss is less curved")
        return out

    def blame(self, n=10, opinion=None, include_good=True):
        """The ``n`` worst elements (wrong first, then suspicious, then largest rel err); ``n=0``: all checked."""
        rows = [r for t in self.tensors for r in t.blame(opinion, n=n, include_good=include_good)]
        rows.sort(key=_badness, reverse=True)
        return rows[:n] if n else rows

    def counts(self):
        """{band: number of elements} over all checked opinions (sampled checks add "unchecked")."""
        total = sum((t.band_counts() for t in self.tensors), np.zeros(len(BANDS) + 1, dtype=int))
        out = {band: int(n) for band, n in zip(BANDS, total)}
        if total[-1]:
            out["unchecked"] = int(total[-1])
        return out

    def __str__(self):
        from ..render import TEXT
        from ..render.results import result_blocks

        return TEXT.body(result_blocks(self))

    def _repr_html_(self):  # a notebook shows the result as a table, not a repr
        from ..render import notebook_html
        from ..render.results import result_blocks

        return notebook_html(result_blocks(self))

    def _repr_markdown_(self):
        from ..render import notebook_markdown
        from ..render.results import result_blocks

        return notebook_markdown(result_blocks(self))

    def __repr__(self):
        worst = self.blame(n=1)
        w = f", worst {worst[0].element} rel {worst[0].rel_err:.2g}" if worst else ""
        return (f"<CheckResult {self.name}: {'passed' if self.passed else 'FAILED'}, "
                f"{len(self.tensors)} tensors, max rel err {self.max_rel_error:.2g}{w}>")
