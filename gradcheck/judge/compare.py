"""A tensor's verdicts: every opinion compared with the finite differences element by element
(:mod:`gradcheck.judge.bands` says how one element is judged), with what keeps each opinion inconclusive
where no value of it can be judged, and the blame table of its worst elements (the whole result of a check is
:class:`~gradcheck.judge.outcome.CheckResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..defaults import ATOL, MARGIN, RTOL
from .bands import (
    _BAND_ARRAY,
    _GOOD,
    _INCONCLUSIVE,
    _KINK,
    _SUSPICIOUS,
    _UNCHECKED,
    _WRONG,
    UNDERFLOW,
    _band_code,
    _judged,
    _swamped,
)
from .tolerances import tolerance

__all__ = ["BLAME_HEADERS", "REASONS", "ElementBlame", "TensorCheck"]

#: Why opinions may be inconclusive at an element whatever their value, in the order an element is counted: the
#: reference backprop overflows there (then only the opinions that overflow with it), the finite difference has no
#: value there, a function's value is flat to the bit at its steps or computed in float32, it finds no slope where
#: the reference finds one, only a second estimate finds the slope that calls the reference wrong, or the
#: reference's own gradient at the ends of the steps gives the difference's value and only at θ another (every
#: opinion; see :meth:`TensorCheck.unjudged_elements`).
REASONS = ("overflowed", "unmeasured", "flat", "coarse_f", "blind", "replaced", "narrow", "near_kink", "vague")


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
    """One parameter tensor: every opinion's values and, for each checked opinion, its verdicts vs numeric.

    ``values`` maps an opinion ("backprop", "numeric", "symbolic", "impl", or "analytic")
    to an array of the parameter's shape. ``checked`` lists the opinions judged
    against ``values["numeric"]``; ``bound`` is the numeric value's per-element error
    estimate; ``rounding`` the rounding a correct float64 backprop of this tensor may
    have (see :func:`verdict_codes`); ``mask`` (sampled checks) marks the elements that
    were checked, the rest are "unchecked". ``float32`` says the user's gradient arrays
    are float32: the user's opinion is then allowed float32's rounding. ``unevaluated``
    maps an opinion to a bool array of the elements it could not evaluate (SymPy's form
    overflowing where the reference backprop's is finite): those are "unchecked" for it,
    not judged. ``unresolved`` marks elements too close to a kink for any step
    (inconclusive at best, unless ``bracketed`` says the slopes their steps saw bracket the derivative and the
    value lies beyond them); ``agreeing`` those at a kink at θ whose one-sided derivatives agree (a value their
    bound alone explains is inconclusive there, not a kink); ``joint`` maps an opinion to the elements at kinks
    that failed the joint sub/supergradient test (wrong).
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
    bound: np.ndarray | None = None
    mask: np.ndarray | None = None
    float32: bool = False
    rounding: np.ndarray | None = None
    #: For a float32 user's gradient: the rounding a correct backprop computing in float32 shows here (measured).
    rounding32: np.ndarray | None = None
    unevaluated: dict = field(default_factory=dict)
    unresolved: np.ndarray | None = None
    #: Unresolved elements whose steps crossed one same kink, on one side of θ: the derivative lies between the
    #: slopes seen (the numeric value's band reaches both), and a value beyond them is wrong.
    bracketed: np.ndarray | None = None
    #: Elements at a kink at θ whose one-sided derivatives agree: a value only their bound explains is inconclusive
    #: there (the difference cannot resolve it), not a kink (a value between two slopes apart).
    agreeing: np.ndarray | None = None
    joint: dict | None = None
    #: (value, bound) at the default steps of the elements whose numeric value is a second estimate (NaN
    #: elsewhere): a reference that agrees with it and not with the second one leaves them inconclusive.
    replaced: tuple | None = None
    #: {opinion: :func:`~gradcheck.judge.bands._judged` of its values}, where made for many tensors at once
    #: (:func:`~gradcheck.judge.bands.judged_together`) with this tensor's own tolerances, kinks and bound and no
    #: rounding; the rest are judged here.
    judged: dict | None = field(default=None, repr=False)
    #: Where set, a fraction: an element whose finite difference's bound is above it of the value is inconclusive
    #: where an opinion agrees with the difference (see :meth:`_vague`).
    loose: float | None = None
    #: Elements where the reference is found wrong and its own gradient at the ends of the finite difference's
    #: steps gives the difference's value (:mod:`gradcheck.reference.around`): the slope changes within the steps,
    #: and these differences cannot judge it.
    narrow: np.ndarray | None = None
    #: Elements whose f is flat to the bit at the steps taken (a function check's): an opinion inconclusive there is
    #: so because f cannot show its slope, and is said so.
    flat: np.ndarray | None = None
    #: Where a function check's f computes in float32: an opinion inconclusive there is so because f's float32
    #: rounding bounds its differences, and is said so.
    coarse_f: bool = False
    _err: dict = field(default_factory=dict, repr=False)
    _swamped: dict = field(default_factory=dict, repr=False)
    #: Per reason of :data:`REASONS` that holds somewhere, the elements every opinion is inconclusive at for it.
    _reasons: dict = field(default_factory=dict, repr=False)
    _max: dict = field(default_factory=dict, repr=False)  # max_errors, per opinion (None: all), made on first use

    USER = ("impl", "analytic")

    def __post_init__(self):
        ref = self.values["numeric"]
        for op in self.checked:
            v = self.values.get(op)
            if v is None or np.shape(v) != np.shape(ref):
                continue
            ver, ab, rel = self._judge(v, ref, self.float32 and op in self.USER, op)
            if op in self.unevaluated:
                ver[np.asarray(self.unevaluated[op], bool)] = _UNCHECKED
            self._err[op] = (ab, rel, self._at_kinks(op, ver))
        # Every element good or unchecked (the common case): no opinion fails, and each compared value is finite,
        # so that neither a blind difference, nor one with no value, nor an overflowed reference, changes a verdict.
        clean = self._good_or_unchecked()
        if not clean:
            self._blinded()
        if self.narrow is not None and self._err:
            self._inconclusive_for("narrow", np.asarray(self.narrow, bool).reshape(self.shape))
        if not clean:
            self._unmeasured()
            self._overflowed()
        self._undecided()
        if self.loose is not None:
            self._vague()
        if self.flat is not None and self._err:
            self._reasons["flat"] = np.asarray(self.flat, bool).reshape(self.shape)
        if self.coarse_f and self._err:
            self._reasons["coarse_f"] = np.ones(self.shape, bool)

    def _blinded(self):
        """Every opinion is inconclusive where the finite difference is blind: it finds no slope (its value within
        its own bound of 0), and the reference backprop, exact but for the rounding already allowed it, finds one
        beyond what that bound explains. A loss that moves by a slope the difference never sees changes only within
        a width narrower than its every step, by no more than its rounding (an input of 1e18 beside inputs of 1 in
        one norm): no finite difference resolves it. Where SymPy's exact value agrees with the finite difference
        (within its tolerance or its bound), the reference is the one that is wrong, and nothing changes."""
        reference, symbolic = self._err.get("backprop"), self._err.get("symbolic")
        if reference is None or self.bound is None:
            return
        failing = self._failing(reference[2])
        if not failing.any():  # the common case, decided at once
            return
        if symbolic is not None:  # SymPy within the difference's reach: two against the reference
            failing &= (symbolic[2] != _GOOD) & (symbolic[2] != _INCONCLUSIVE)
        with np.errstate(invalid="ignore"):
            flat = np.abs(np.asarray(self.values["numeric"], float)) <= np.asarray(self.bound, float)
        self._inconclusive_for("blind", flat & failing)
        if self.replaced is not None:
            self._inconclusive_for("replaced", failing & self._with_default_steps())

    def _with_default_steps(self):
        """Where the numeric value is a second estimate (from growing steps, or with the loss's rounding measured
        along the element's own axis) and the reference agrees with the default steps' one (within the tolerance
        and that estimate's bound): the second estimate alone calls it wrong, on an assumption the default one does
        not make. Growing steps assume a loss smooth up to 0.4·max(1, |θ|), and a plateau of the quotients
        there (a saturated network's chords rising from a slope of 0 and levelling off at 1e-23) is a feature of
        the loss, not the slope at θ; a few points along one axis can underestimate the loss's rounding (an LSTM
        with weights ×10, whose loss of 7e-10 moves by rounding only). No finite difference resolves the element."""
        value, bound = (np.asarray(x, float) for x in self.replaced)
        grown = np.isfinite(value)
        if not grown.any():
            return grown
        code = _judged(self.values["backprop"], np.where(grown, value, 0.0), self.rtol, self.atol, self.kinks,
                       np.where(grown, bound, 0.0), MARGIN, self.rounding)[0]
        return grown & ~self._failing(code)

    def _unmeasured(self):
        """Every opinion is inconclusive where the finite difference has no value: the loss is not finite at any step
        it takes (it is at θ: a network whose loss is not is refused before any difference).
        No difference can be taken there, so no value can be called wrong, nor right."""
        if self._err:
            self._inconclusive_for("unmeasured", ~np.isfinite(np.asarray(self.values["numeric"], float)))

    def _overflowed(self):
        """An opinion that is not finite where the reference backprop is not either, and the loss is (a network whose
        loss is not is refused first), is inconclusive there: a correct float64 backprop overflows on the way (a δ
        times weights of 5e229 beyond 1.8e308, though the gradient, under an input of 8e-84, is 2e293), so its inf
        or NaN is float64's limit, not a mistake. An opinion with a finite value there is judged as anywhere."""
        reference = self.values.get("backprop")
        if reference is None or not self._err or np.shape(reference) != tuple(self.shape):
            return
        over = ~np.isfinite(np.asarray(reference, float))
        if not over.any():
            return
        for op, (_, _, ver) in self._err.items():
            with_it = over & ~np.isfinite(np.asarray(self.values[op], float))
            ver[with_it & (ver != _UNCHECKED)] = _INCONCLUSIVE
        self._reasons["overflowed"] = over

    def _inconclusive_for(self, reason, where):
        """Every opinion's verdict inconclusive at ``where`` (bool, the tensor's shape), for ``reason``."""
        if not where.any():
            return
        for _, _, ver in self._err.values():
            ver[where & (ver != _UNCHECKED)] = _INCONCLUSIVE
        self._reasons[reason] = where

    def _undecided(self):
        """An opinion that agrees with the finite difference is still inconclusive where another opinion differs
        from it beyond the tolerance by less than the finite difference can resolve: the judge cannot tell
        which of the two is right (a tiny gradient returned as 0, whose true value is below rounding). At a kink
        both may be right (two values between its one-sided derivatives), unless those derivatives agree: then
        there is one right value, as anywhere else."""
        if self.bound is None or len(self._err) < 2:
            return
        bound = np.asarray(self.bound, float)
        rounding = 0.0 if self.rounding is None else np.asarray(self.rounding, float)
        at_kink = np.zeros(bound.shape, bool) if self.kinks is None else np.asarray(self.kinks, bool)  # both valid
        if self.agreeing is not None:
            at_kink = at_kink & ~np.asarray(self.agreeing, bool)
        for a in self._err:
            ver, va = self._err[a][2], np.asarray(self.values[a], float)
            for b in self._err:
                if b == a:
                    continue
                vb = np.asarray(self.values[b], float)
                with np.errstate(invalid="ignore"):
                    gap = np.abs(va - vb)
                    apart = gap > 2 * (self.rtol * np.maximum(np.abs(va), np.abs(vb)) + self.atol + rounding)
                    ver[(ver == _GOOD) & apart & (gap <= 2 * MARGIN * bound) & ~at_kink] = _INCONCLUSIVE

    def _vague(self):
        """Every opinion's good verdict is inconclusive where the finite difference's bound is above :attr:`loose`
        of the value (not at a kink, whose bound reaches its slopes): a value within the tolerance of an estimate
        that loose may be a slip that agrees with it by chance (a slip of 1e-3 against an estimate itself 1e-3 off
        and known to 3%), so that agreement certifies nothing to the tolerance. A value of 0 that the difference
        finds exactly (a flat f) is good: no slip of a factor moves it."""
        if self.bound is None or not self._err:
            return
        n, bound = np.asarray(self.values["numeric"], float), np.asarray(self.bound, float)
        free = np.ones(bound.shape, bool) if self.kinks is None else ~np.asarray(self.kinks, bool)
        where = np.zeros(bound.shape, bool)
        for op, (_, _, ver) in self._err.items():
            with np.errstate(invalid="ignore"):
                size = np.maximum(np.abs(np.asarray(self.values[op], float)), np.abs(n))
                loose = (ver == _GOOD) & free & (size > 0) & (bound > self.loose * size)
            ver[loose] = _INCONCLUSIVE
            where |= loose
        if where.any():
            self._reasons["vague"] = where

    def _at_kinks(self, op, ver):
        """Unresolved elements are inconclusive; elements that failed the joint test of kinks are wrong.

        Where kinks meet (a tie in a max pool over relu outputs at 0), the chain rule's choices at each kink can
        give a value outside the element's own one-sided derivatives: the reference backprop's value is such a
        valid choice, so a value at a kink that is the reference's is a kink, not wrong."""
        if self.unresolved is not None:  # every chord averages the pieces on both sides of a kink nearer than any
            # resolvable step, so the piece at θ (its derivative) is never measured: no value between the slopes
            # seen can be called wrong, nor any other where the steps crossed more than one kink
            lost = np.asarray(self.unresolved, bool) & (ver != _UNCHECKED)
            if self.bracketed is not None:
                lost &= ~(np.asarray(self.bracketed, bool) & ((ver == _WRONG) | (ver == _SUSPICIOUS)))
            ver[lost] = _INCONCLUSIVE
            if lost.any():
                self._reasons["near_kink"] = np.asarray(self.unresolved, bool).reshape(ver.shape)
        reference = self.values.get("backprop")
        if (self.kinks is not None and reference is not None and np.shape(reference) == np.shape(ver)
                and np.asarray(self.kinks).any()):
            v, r = np.asarray(self.values[op], float), np.asarray(reference, float)
            with np.errstate(invalid="ignore"):
                same = np.abs(v - r) <= self.rtol * np.maximum(np.abs(v), np.abs(r)) + self.atol + UNDERFLOW + (
                    0.0 if self.rounding is None else np.asarray(self.rounding, float))  # ulps of 0: the same
            ver[np.asarray(self.kinks, bool) & same & ((ver == _WRONG) | (ver == _SUSPICIOUS))] = _KINK
        if self.joint and self.joint.get(op) is not None:
            ver[np.asarray(self.joint[op], bool) & (ver != _UNCHECKED)] = _WRONG
        return ver

    def _judge(self, v, ref, f32, op):
        rtol, rounding = self.rtol, self.rounding
        if f32:  # float32's rounding: measured where the network is known, else the estimate's at ε₃₂ (and its rtol)
            row = tolerance("float32")
            rtol = row.judged_rtol(rtol)
            rounding = None if rounding is None else row.rescale(rounding)
            if self.rounding32 is not None:
                rounding = self.rounding32 if rounding is None else np.maximum(rounding, self.rounding32)
        judged = self.judged.get(op) if self.judged and not f32 and rounding is None else None
        if judged is None:
            judged = _judged(v, ref, rtol, self.atol, self.kinks, self.bound, MARGIN, rounding)
        ver = judged[0]
        if rounding is not None:
            swamped = _swamped(v, ref, rtol, self.atol, rounding, judged) & (ver == _GOOD)
            ver[swamped] = _INCONCLUSIVE
            self._swamped[op] = swamped
        if self.agreeing is not None:  # explained by the bound alone, not by two slopes apart: not resolved
            ver[np.asarray(self.agreeing, bool) & (ver == _KINK)] = _INCONCLUSIVE
        if self.mask is not None:
            ver[~np.asarray(self.mask, bool)] = _UNCHECKED
        return ver, judged[1], judged[2]

    def inconclusive(self, opinion):
        """Boolean mask, the tensor's shape: the elements of ``opinion`` judged inconclusive (all False if it could
        not be compared); from the codes, without :meth:`verdict`'s array of names."""
        if opinion not in self._err:
            return np.zeros(self.shape, dtype=bool)
        return np.asarray(self._err[opinion][2] == _INCONCLUSIVE).reshape(self.shape)

    def swamped_elements(self, opinion):
        """Boolean mask, the tensor's shape: the elements of ``opinion`` inconclusive because a correct float64
        backprop's rounding there is as large as the element itself (see :func:`_swamped`)."""
        return np.asarray(self._swamped.get(opinion, False) & self.inconclusive(opinion), bool).reshape(self.shape)

    def unjudged_elements(self, reason, opinion):
        """Boolean mask, the tensor's shape: the elements of ``opinion`` that every opinion is inconclusive at for
        ``reason``, one of :data:`REASONS` (see :meth:`_blinded`, :meth:`_with_default_steps`,
        :meth:`_unmeasured`), and not for the backprop's rounding; each element under the first reason that holds."""
        where = self._reasons.get(reason)
        if where is None:
            return np.zeros(self.shape, dtype=bool)
        out = np.asarray(where).reshape(self.shape) & self.inconclusive(opinion) & ~self.swamped_elements(opinion)
        for first in REASONS[:REASONS.index(reason)]:
            if first in self._reasons:
                out &= ~np.asarray(self._reasons[first]).reshape(self.shape)
        return out

    def unjudged(self, reason, opinion=None):
        """How many elements of ``opinion`` (or of every checked one) every opinion is inconclusive at for
        ``reason`` (see :meth:`unjudged_elements`)."""
        ops = [opinion] if opinion else list(self.checked)
        return sum(int(np.count_nonzero(self.unjudged_elements(reason, op))) for op in ops)

    def swamped(self, opinion=None):
        """How many elements of ``opinion`` (or of every checked one) are inconclusive because a correct float64
        backprop's rounding there is as large as the element itself (see :func:`_swamped`)."""
        ops = [opinion] if opinion else list(self.checked)
        return sum(int(np.count_nonzero(self.swamped_elements(op))) for op in ops)

    @cached_property
    def settled(self):
        """True when every element of every compared opinion is good or unchecked: then a larger allowance for
        rounding, which only widens tolerances, changes no verdict (asked for twice per tensor by a network check:
        kept)."""
        return self._good_or_unchecked()

    def _good_or_unchecked(self):
        """True when every compared opinion's every element is now good or unchecked."""
        return all(not ((ver != _GOOD) & (ver != _UNCHECKED)).any() for _, _, ver in self._err.values())

    def misses(self):
        """Per element (the tensor's shape), by what factor the finite difference's bound falls short of explaining
        the difference of an opinion found wrong or suspicious there: |a − n| over MARGIN·bound, the smallest over
        those opinions; inf where none is."""
        out = np.full(self.shape, np.inf)
        if self.bound is None:
            return out
        explains = MARGIN * np.asarray(self.bound, float).reshape(self.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            for abs_err, _, ver in self._err.values():
                ratio = np.asarray(abs_err, float).reshape(self.shape) / explains
                out = np.where(self._failing(np.asarray(ver).reshape(self.shape)) & (ratio < out), ratio, out)
        return out

    @staticmethod
    def _failing(ver):
        return (ver == _WRONG) | (ver == _SUSPICIOUS)

    def verdict(self, opinion):
        """Per-element array of band names for ``opinion`` (None if it could not be compared); a new array on
        each call (the verdicts are kept as codes)."""
        return np.array(_BAND_ARRAY[self._err[opinion][2]]) if opinion in self._err else None

    def opinion_passed(self, opinion):
        if opinion not in self._err:
            return False
        return not bool(self._failing(self._err[opinion][2]).any())

    @property
    def passed(self):
        return self.problem is None and all(self.opinion_passed(op) for op in self.checked)

    @property
    def n_checked(self):
        """How many elements were checked (all of them unless the check was sampled)."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.mask is None else int(np.count_nonzero(self.mask))

    def count(self, band, opinion=None):
        """Number of elements in ``band`` over the checked opinions (or one)."""
        return self.band_counts(opinion)[_band_code(band)]

    def band_counts(self, opinion=None):
        """Number of elements in each band (by its code: good … wrong, then unchecked) over the checked opinions (or
        one): one pass over each opinion's verdicts."""
        out = np.zeros(len(_BAND_ARRAY), dtype=int)
        for op in [opinion] if opinion else self.checked:
            if op in self._err:
                out += np.bincount(np.ravel(self._err[op][2]), minlength=len(_BAND_ARRAY))
        return out

    def first(self, band, swamped=True, within=None, outside=()):
        """``"W0[1, 2]"``: the first element in ``band`` (None if there is none); with ``swamped=False``, not one
        inconclusive for the backprop's rounding (see :meth:`swamped`); ``within`` one of :data:`REASONS`, only one
        every opinion is inconclusive at for it; ``outside``, reasons whose elements are left out."""
        for op in self.checked:
            if op not in self._err:
                continue
            where = self._err[op][2] == _band_code(band)
            if not swamped:
                where &= ~np.asarray(self._swamped.get(op, False), bool)
            if within is not None:
                where &= self.unjudged_elements(within, op).reshape(where.shape)
            for reason in outside:
                where &= ~self.unjudged_elements(reason, op).reshape(where.shape)
            if (hit := np.argwhere(where)).size:
                return ElementBlame(self.name, tuple(int(i) for i in hit[0]), op, 0, 0, 0, 0, band).element
        return None

    def max_errors(self, opinion=None):
        """(max abs err, max rel err) over the checked opinions (or one), ignoring kinks, unchecked elements and
        those without a finite difference (no error can be measured there). Made once per opinion: the verdicts are
        fixed when the tensor is judged."""
        if opinion not in self._max:
            self._max[opinion] = self._max_errors(opinion)
        return self._max[opinion]

    def _max_errors(self, opinion):
        ops = [opinion] if opinion else list(self.checked)
        ab = rel = 0.0
        unmeasured = self._reasons.get("unmeasured", False)
        for op in ops:
            if op not in self._err:
                return float("inf"), float("inf")
            a, r, v = self._err[op]
            mask = (v != _KINK) & (v != _UNCHECKED) & ~np.asarray(unmeasured, bool)
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

    def blame(self, opinion=None, n=None, include_good=True):
        """:class:`ElementBlame` rows for the checked opinions (or one): the ``n`` worst, or all checked ones."""
        rows = []
        for op in [opinion] if opinion else self.checked:
            if op not in self._err:
                continue
            ab, rel, ver = (np.ravel(x) for x in self._err[op])
            rank = np.where(ver == _UNCHECKED, -1, ver)
            keep = np.flatnonzero(rank >= (1 if not include_good else 0))
            finite_rel = np.where(np.isfinite(rel[keep]), rel[keep], 1e308)
            if n and len(keep) > 8 * n:  # only the candidates for the n worst get sorted (ties included)
                key = rank[keep] + finite_rel / (1 + finite_rel)  # by band, then by rel err: never out of order
                cut = np.partition(key, len(key) - n)[len(key) - n]
                keep, finite_rel = keep[key >= cut], finite_rel[key >= cut]
            order = keep[np.lexsort((-ab[keep], -finite_rel, -rank[keep]))]
            if n:
                order = order[:n]
            val, ref = np.ravel(self.values[op]), np.ravel(self.values["numeric"])
            for flat in order:
                idx = tuple(int(i) for i in np.unravel_index(flat, self.shape)) if self.shape else ()
                rows.append(ElementBlame(self.name, idx, op, float(val[flat]), float(ref[flat]), float(ab[flat]),
                                         float(rel[flat]), str(_BAND_ARRAY[ver[flat]])))
        return rows

    def __repr__(self):
        status = "PASS" if self.passed else ("PROBLEM: " + self.problem if self.problem else "FAIL")
        return (f"TensorCheck({self.name} {self.shape}: max abs {self.max_abs_error:.2g}, "
                f"max rel {self.max_rel_error:.2g}, {status})")
