"""The stages of :func:`~gradcheck.checks.function.check_function` and :func:`~gradcheck.checks.function.check_layer`.

Both check the gradient of one scalar function F of a list of arrays (``f`` itself, or a
layer's ``sum(forward(x, *params) * dout)``), flattened into one vector θ: F at θ itself
(:func:`point_stage`), a sample of θ when checking every element would take too long
(:func:`sample_stage`), finite differences with their error bounds and kinks
(:func:`numeric_stage`), the values at kinks tested together (:func:`kinks_stage`), the
verdicts (:func:`judge_stage`) and, for a failing layer, its backward traced line by line
(:func:`line_trace_stage`).
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..diagnose.network import diagnose_tensor
from ..diagnose.recognise import swapped_order
from ..diagnose.tensor import proportional_terms
from ..judge.bands import carried_precision, low_precision
from ..judge.outcome import CheckResult
from ..judge.subgradient import Along, Judged, element_wrong, joint_test
from ..judge.tolerances import tolerance
from ..numeric.estimate import FULL_SECONDS, check_mode
from ..numeric.function import CALLS_PER_ELEMENT, VAGUE, Settings, kink_aware_gradient_at
from ..numeric.sampled import choose_elements, directions, directions_text, stencil_along
from ..numeric.stencils import EPS, STEP_SCALE, flatten, unflatten
from ..usercode import calls
from .verdicts import judged_rtol, kink_notes, outcome, tensor_check

__all__ = ["Scalar", "STAGES", "run"]


#: How far F's second point for :func:`_carried_precision` moves each element, relative to max(1, |x|): far enough
#: that a float64 F's value there takes all of float64's bits, near enough that F is where it was.
NUDGE = 2.0**-20


@dataclass
class Scalar:
    """What the stages of a function or layer check know so far.

    ``F`` maps a list of arrays (one per name) to the scalar whose gradient ``analytic`` (the
    user's, one array or None per name) claims to be; ``f_label`` names it in messages;
    ``retrace``, for a layer, runs backward under the line tracer.
    """

    label: str
    F: Callable | None
    arrays: list
    names: list
    f_label: str
    analytic: list | None = None  # None: no gradient for any name
    tensor_problems: dict = field(default_factory=dict)  # {name: why its gradient cannot be compared}
    returned: dict = field(default_factory=dict)  # {"dW": shape} of gradients returned in another shape
    problems: list = field(default_factory=list)  # problems of the check as a whole
    float32: bool = False  # the user's gradients are float32
    f_float32: bool = False  # F computes in float32
    skip_numeric: bool = False  # F cannot be evaluated (a layer whose forward failed)
    carried: dict = field(default_factory=dict)  # what the result carries: x, or dout
    retrace: Callable | None = None
    recognise: Callable | None = None  # (user, numeric, failing) -> sentences naming a layer's known mistake
    autograd: list | None = None  # torch autograd's gradient per name, where the user's code is in torch ops
    notes: list = field(default_factory=list)
    failures: list = field(default_factory=list)  # why F failed at a perturbed point (the first)
    f0: float | None = None
    seconds: float = 0.0  # how long F took at θ
    smooth_ok: bool = True  # F is deterministic
    eps: float = EPS
    flat_a: np.ndarray | None = None  # the user's gradient, flat, NaN where unusable
    chosen: np.ndarray | None = None  # a sampled check's flat indices
    found: list = field(default_factory=list)  # its directional derivatives
    ka: object = None  # the kink-aware finite differences
    joint: np.ndarray | None = None  # flat: the elements at kinks the joint test finds wrong
    joint_notes: list = field(default_factory=list)
    result: CheckResult | None = None

    def __post_init__(self):
        if self.analytic is None:
            self.analytic = [None] * len(self.arrays)

    @property
    def shapes(self):
        return [a.shape for a in self.arrays]

    @property
    def theta(self):
        return flatten(self.arrays) if self.arrays else np.zeros(0)

    def scalar(self, arrays, complex_ok=False):
        """F at ``arrays`` as a float (see :func:`~gradcheck.usercode.calls.scalar`)."""
        return calls.scalar(self.F(arrays), self.f_label, complex_ok)

    def at(self, flat):
        """F at a flat θ, NaN where it fails (the first failure is kept for the message)."""
        try:
            return self.scalar(unflatten(flat, self.shapes), complex_ok=np.iscomplexobj(flat))
        except (Exception, SystemExit) as e:
            if not self.failures:
                self.failures.append(calls.failure(e, self.f_label, "at a perturbed point"))
            return np.nan

    def batch(self, T):
        """F at each row of ``T``: called once per point (generic code is not vectorised over a stack)."""
        out = np.empty(len(T), dtype=T.dtype)
        for r in range(len(T)):
            out[r] = self.at(T[r].copy())
        return out


@contextlib.contextmanager
def _quiet():
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN slopes where f failed: reported by the verdicts
        yield


def run(s, opts):
    """Run every stage on ``s``; return the result."""
    for stage in STAGES:
        stage(s, opts)
    return s.result


def point_stage(s, opts):
    """F at θ, twice: its value, its precision, how long it takes, and whether it is deterministic."""
    if s.skip_numeric:
        return
    try:
        started = time.perf_counter()
        first = s.F([a.copy() for a in s.arrays])
        s.seconds = time.perf_counter() - started
        if s.f_float32 or low_precision(first):
            s.eps = tolerance("float32").eps
            s.notes.append(f"{s.f_label} computes in float32: the finite differences use float32-sized steps")
        s.f0 = f0 = calls.scalar(first, s.f_label)
        again = s.scalar([a.copy() for a in s.arrays])
    except (Exception, SystemExit) as e:  # a failing second call keeps f0: the check goes on
        s.problems.append(calls.failure(e, s.f_label, "at x itself, so there is no numeric gradient"))
        return
    if s.eps == EPS:
        _carried_precision(s, f0)
    if not (again == f0 or (np.isnan(again) and np.isnan(f0))):
        s.smooth_ok = False
        s.problems.append(f"{s.f_label} is not deterministic: two calls at the same x gave {f0!r} and {again!r}; "
                          "fix the random seed inside it (e.g. a dropout mask) so every call computes "
                          "the same function")
    elif not np.isfinite(f0):
        s.problems.append(f"{s.f_label} returned {f0} at x itself; the numeric gradient is undefined there")


def _carried_precision(s, f0):
    """F's precision from its values, where its type does not say (a float32 loss handed back as a Python float,
    ``loss.item()``): where f0 and F at a point nearby are both float32 (or float16) numbers, F computes in that
    precision, and its finite differences take its rounding and steps. A saturated tanh computed in float32 is
    exactly ±1 at x and at every step, and its slope of 1e-6 was judged wrong against a difference of 0 bounded by
    float64's rounding. One call of F."""
    if carried_precision([f0]) is None:
        return
    theta = s.theta
    nudged = theta + NUDGE * np.maximum(1.0, np.abs(theta)) * np.where(np.arange(theta.size) % 2, -1.0, 1.0)
    try:
        there = s.scalar(unflatten(nudged, s.shapes))
    except (Exception, SystemExit):  # F failing there says nothing of its precision (the check reports F's failures)
        return
    dtype = carried_precision([f0, there])
    if dtype is not None:
        s.eps = tolerance(dtype).eps
        s.notes.append(f"{s.f_label} computes in {dtype}, as its values show (each a {dtype} number): the finite "
                       f"differences use {dtype}-sized steps and rounding")


def sample_stage(s, opts):
    """Which elements to check: every one, or (sampled) a sample hitting every row and column, plus the ones
    random directional derivatives name. Auto checks every element when that takes about
    :data:`~gradcheck.numeric.estimate.FULL_SECONDS` at
    :data:`~gradcheck.numeric.function.CALLS_PER_ELEMENT` calls of F each."""
    if s.f0 is None:
        s.analytic = [None] * len(s.arrays)  # nothing to compare with
        return
    usable = [np.ravel(a) if a is not None and a.shape == shape else np.full(math.prod(shape), np.nan)
              for a, shape in zip(s.analytic, s.shapes)]
    with _quiet():
        s.flat_a = flatten(usable)
        theta = s.theta
        check_mode(opts.mode)
        if opts.mode == "full" or (opts.mode == "auto" and CALLS_PER_ELEMENT * theta.size * s.seconds <= FULL_SECONDS):
            return
        _sample(s, theta, opts)


def _sample(s, theta, opts):
    rng = np.random.default_rng(0x5A3)
    starts = np.cumsum([0] + [math.prod(shape) for shape in s.shapes])
    chosen = np.concatenate([choose_elements(shape, opts.sample, rng) + at for shape, at in zip(s.shapes, starts)])
    h = STEP_SCALE * max(1.0, float(np.abs(theta).max(initial=0.0)))
    dd = stencil_along(lambda t, v: s.scalar(unflatten(theta + t * v, s.shapes)), h, f0=s.f0)
    a = s.flat_a
    s.found = directions(dd, {"analytic": a}, tolerance().rounding(np.abs(a)), opts.directions, 0, opts.rtol)
    for d in s.found:
        chosen = np.union1d(chosen, d.located.get("analytic", np.zeros(0, int)))
    s.chosen = chosen
    s.notes.append(f"sampled check: {len(chosen):,} of {theta.size:,} elements checked by finite differences "
                   f"(every row and column), and {directions_text(s.found)}")


def numeric_stage(s, opts):
    """Finite differences of the chosen elements, stepping clear of kinks next to θ."""
    if s.f0 is None:
        return
    with _quiet():
        s.ka = kink_aware_gradient_at(s.chosen, s.batch, s.theta, s.f0, s.flat_a,
                                      Settings(opts.method, opts.step, opts.rtol, opts.atol, s.eps))


def kinks_stage(s, opts):
    """The values at all kinks at θ, tested together (none where F is not deterministic)."""
    if s.f0 is None:
        return
    if not s.smooth_ok:
        s.ka.kinks[:] = False
    elif s.ka.kinks.any():
        with _quiet():
            s.joint, s.joint_notes = _joint(s, judged_rtol(opts.rtol, s.float32), opts.atol)


def _joint(s, rtol, atol):
    """(flat mask of the elements at kinks the joint test finds wrong, notes): see
    :func:`~gradcheck.judge.subgradient.joint_test`."""
    theta, shapes, ka, a = s.theta, s.shapes, s.ka, s.flat_a

    def line(idx, coef, ts):
        out = []
        for t in ts:
            x = theta.copy()
            x[idx] += t * coef
            try:
                out.append(s.scalar(unflatten(x, shapes)))
            except (Exception, SystemExit):  # f failing along a direction: that test is skipped
                out.append(np.nan)
        return out

    starts = np.cumsum([0] + [math.prod(shape) for shape in shapes])

    def label(i):
        k = int(np.searchsorted(starts, i, side="right") - 1)
        index = np.unravel_index(int(i - starts[k]), shapes[k])
        return f"{s.names[k]}[{', '.join(str(int(j)) for j in index)}]" if shapes[k] else s.names[k]

    K = np.flatnonzero(ka.kinks)
    wrong = element_wrong(a, ka.numeric, ka.bound, ka.kinks, rtol, atol) | ~np.isfinite(a)
    judged = Judged({"analytic": a}, {"analytic": 4 * s.eps * np.abs(a)}, {"analytic": rtol}, atol,
                    {"analytic": wrong})
    found = joint_test(Along(line, s.f0, s.eps), theta, K, (ka.plus - ka.minus)[K], judged, label)
    return found["analytic"]


def judge_stage(s, opts):
    """Every tensor's verdicts, and the result with its notes, problems and diagnosis."""
    size = s.theta.size
    if s.ka is None:
        numeric, bound = np.full(size, np.nan), np.zeros(size)
        kinks, lost, flat = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
    else:
        numeric, bound, kinks, lost, flat = s.ka.numeric, s.ka.bound, s.ka.kinks, s.ka.unresolved, s.ka.flat
    joint = np.zeros(size, dtype=bool) if s.joint is None else s.joint
    tensors, at = [], 0
    exact = s.autograd if s.autograd is not None else [None] * len(s.names)
    checked = ("analytic",) + (("autograd",) if s.autograd is not None else ())
    for name, shape, a, ag in zip(s.names, s.shapes, s.analytic, exact):
        part = slice(at, at + math.prod(shape))
        mask = None if s.chosen is None else np.isin(np.arange(part.start, part.stop), s.chosen).reshape(shape)
        num = numeric[part].reshape(shape)
        values = {"analytic": a, "numeric": num, **({"autograd": ag} if ag is not None else {})}
        tensors.append(tensor_check(name, shape, values, checked, opts,
                                    kinks=kinks[part].reshape(shape), problem=_problem(s, name, num, mask),
                                    bound=bound[part].reshape(shape), float32=s.float32, mask=mask,
                                    unresolved=lost[part].reshape(shape), loose=VAGUE * opts.rtol,
                                    flat=flat[part].reshape(shape), coarse_f=s.eps != EPS,
                                    joint={"analytic": joint[part].reshape(shape)}))
        at = part.stop
    near = f"where {s.f_label} is not differentiable"
    s.result = outcome(s.label, tensors, ("analytic", "numeric", *checked[1:]), checked, opts,
                       notes=s.notes + kink_notes(tensors, lambda ts: _on_kink(s.f_label, ts), near, "its rounding"),
                       problems=s.problems,
                       diagnosis=s.joint_notes + [d for t in tensors if (d := diagnose_tensor(t, len(tensors) == 1))],
                       f0=s.f0, mode="full" if s.chosen is None else "sampled", directions=s.found, **s.carried)


def _problem(s, name, num, mask):
    """The tensor's own problem: the user's, or F undefined at x ± h for some of its checked elements."""
    problem = s.tensor_problems.get(name)
    bad = ~np.isfinite(num) if mask is None else ~np.isfinite(num) & mask
    if s.f0 is not None and bad.any() and problem is None:
        why = f" ({s.failures[0]})" if s.failures else ""
        problem = (f"{name}: {s.f_label} is NaN/Inf or raised at x ± h for {int(bad.sum())} element(s) "
                   f"(first {calls.element(name, bad)}), so their numeric gradient is undefined; is x at the edge "
                   f"of {s.f_label}'s domain (log of 0, sqrt of a negative)?{why}")
    return problem


def _on_kink(f_label, tensors):
    t = next(t for t in tensors if t.n_kinks)
    return (f"where {f_label} is not differentiable (a kink, like |x| or relu at 0; first "
            f"{calls.element(t.name, t.kinks)})")


def cause_stage(s, opts):
    """A failing check's cause where one is known: gradients returned in the wrong order, or a mistake of the
    layer kind the user's forward is recognised as (:mod:`gradcheck.diagnose.recognise`)."""
    r = s.result
    if r.passed or s.f0 is None:
        return
    user = {t.name: np.asarray(t.values["analytic"]) for t in r.tensors if t.values.get("analytic") is not None}
    numeric = {t.name: t.values["numeric"] for t in r.tensors}  # NaN where a sampled check took none
    swapped = swapped_order(s.names, user, numeric)
    if swapped:
        r.diagnosis.append(swapped)
    elif s.recognise is not None:
        failing = {t.name for t in r.tensors if not t.passed}
        r.diagnosis += [line for line in s.recognise(user, numeric, failing) if line not in r.diagnosis]
    if not any("known mistake" in d or "wrong order" in d for d in r.diagnosis):
        r.diagnosis += proportional_terms(r.tensors, dict(zip(s.names, s.arrays)))


def line_trace_stage(s, opts):
    """The user's gradient code (a layer's backward, a function's grad) run once more under the line tracer
    when it fails, or always with ``explain``: its lines' shapes, and what they say."""
    if s.retrace is None or s.skip_numeric or not (opts.explain or (opts.trace_code and not s.result.passed)):
        return
    lines = s.retrace()
    s.result.line_trace = lines
    wrong = {f"d{t.name}": np.shape(t.values["analytic"]) for t in s.result.tensors
             if t.values.get("analytic") is not None and np.shape(t.values["analytic"]) != t.shape}
    wrong.update({(k if k.startswith("d") and k[1:] in s.names else f"d{k}"): v for k, v in s.returned.items()})
    (s.result.notes if s.result.passed else s.result.diagnosis).extend(lines.sentences(wrong))


#: The stages of a function or layer check, in order; each reads and extends the state.
STAGES = (point_stage, sample_stage, numeric_stage, kinks_stage, judge_stage, cause_stage, line_trace_stage)
