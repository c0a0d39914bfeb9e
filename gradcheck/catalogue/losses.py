"""Loss catalogue: the cost C of a batch, ∂C/∂a for NumPy, and the per-sample SymPy term.

N is the number of samples and K the number of outputs. ``a`` and ``y`` are arrays
with the unit axis and the sample axis last (any order, given by the convention) and
any leading axes (finite differences stack perturbed networks in front).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Callable

import numpy as np

from .activations import log_softmax, softplus_of

__all__ = ["LOSSES", "MARGIN", "REDUCTIONS", "Loss", "SpecLoss", "loss_of", "normaliser", "other_losses"]

#: How a loss reduces its per-output terms: ``mean`` (each loss's own normalisation), ``sum`` (no division by N or
#: K) or ``per_sample`` (summed over the outputs, averaged over the samples).
REDUCTIONS = ("mean", "sum", "per_sample")
#: The multiclass hinge's default margin Δ.
MARGIN = 1.0


def _y_log(y, a):
    # y·log(a) with 0·log(0) = 0, as in the definition of cross-entropy.
    return y * np.log(np.where(y != 0, a, 1.0))


def _bce_delta(z, a, y):
    """σ(z) − y, to its own digits where y is 0 or 1: −σ(−z) for y = 1 (1 − σ(z) would be 0 once σ(z) rounds to 1)."""
    with np.errstate(over="ignore"):
        return np.where(y == 1.0, -1.0 / (1.0 + np.exp(z)), np.where(y == 0.0, a, a - y))


def _sym_log(x):
    import sympy as sp  # here: SymPy is loaded only when a symbolic form is built

    return sp.log(x)


def _bce_term_from_z(z, y, n, k):
    from .sympy_forms import softplus

    return sum(yi * softplus(-zi) + (1 - yi) * softplus(zi) for zi, yi in zip(z, y)) / (n * k)


def _cross_entropy_term_from_z(z, y, n, k):
    from .sympy_forms import log_softmax

    return -sum(yi * log_softmax(i, *z) for i, yi in enumerate(y)) / n


def _svm_margins(a, y, axis, margin):
    """m_j = a_j − a_y + Δ for every output j, with a_y = Σ_k y_k·a_k the true class's score (y one-hot)."""
    return a - (a * y).sum(axis=axis, keepdims=True) + margin


def _svm_value(a, y, n, k, axis=-2, margin=MARGIN):
    return _sum2((1.0 - y) * np.maximum(_svm_margins(a, y, axis, margin), 0.0)) / n


def _svm_grad(a, y, n, k, axis=-2, margin=MARGIN):
    """svm'(a, y)/N: ∂C/∂a_j = [m_j > 0] for j ≠ y, −Σ_{j≠y} [m_j > 0] for j = y, over N (0 at a tie m_j = 0, as
    CS231n's code has it)."""
    h = (1.0 - y) * (_svm_margins(a, y, axis, margin) > 0)
    return (h - y * h.sum(axis=axis, keepdims=True)) / n


def _svm_term(a, y, n, k, margin=1):
    from .sympy_forms import hinge  # max(0, m), with hinge'(m) = [m > 0] as its derivative

    a_y = sum(yi * ai for ai, yi in zip(a, y))
    return sum((1 - yi) * hinge(ai - a_y + margin) for ai, yi in zip(a, y)) / n


def _svm_kink_state(a, y, axis, margin):
    """Which hinge terms are on: a step that changes one crossed a kink of the loss."""
    return _svm_margins(a, y, axis, margin) > 0


def _svm_on_kink(a, y, axis, margin):
    """Hinge terms exactly at their kink: a margin of 0 for a class other than the true one."""
    return (_svm_margins(a, y, axis, margin) == 0) & (y == 0)


@dataclass(frozen=True)
class Loss:
    """One cost function.

    ``grad_formula`` is ∂C/∂a as NumPy code. ``value(a, y, N, K)`` is C summed over
    the last two axes; ``grad(a, y, N, K)`` is ∂C/∂a with the shape of ``a``; ``sample_term(a, y, N, K)`` is the SymPy
    contribution of one sample (lists of symbols ``a_k``, ``y_k``), so that
    C = Σ_n sample_term(a_n, y_n). ``output`` names the only output activation the
    loss is defined with, or ``None`` for any.

    Facts other modules look up instead of testing names: ``target_range`` (the
    targets it accepts, or None for any number), ``one_hot`` (targets are one-hot
    rows), ``random_targets(rng, N, K)`` (a random (N, K) batch of targets that suits
    it, or None to draw them from the output activation's range), ``per_output_mean``
    (C averages over all N·K outputs, not only over the N samples).

    Where the loss is defined with its ``output`` activation, ``value_from_z(z, y, N, K,
    axis)`` is C computed from the output layer's pre-activation z (``axis`` its unit
    axis), and ``delta_from_z(z, a, y, N, K, axis)`` is ∂C/∂z. Both stay finite and keep
    their digits where the output saturates (σ(z) rounds to 1, log(1 − a) loses its
    digits), which C(a) and ∂C/∂a do not: bce on σ(z) is y·softplus(−z) + (1 − y)·softplus(z)
    (= softplus(z) − y·z, written as a sum of non-negative terms that cannot cancel) and
    cross-entropy on softmax(z) is −Σ_k y_k·log_softmax(z)_k. ``sample_term_from_z(z, y, N, K)``
    is the same per-sample term in SymPy (lists of symbols ``z_k``, ``y_k``): the SymPy
    derivation evaluates its output δ = ∂C_n/∂z from it.
    """

    name: str
    formula: str
    grad_formula: str
    value: Callable
    grad: Callable
    sample_term: Callable
    output: str | None = None
    target_range: tuple[float, float] | None = None
    one_hot: bool = False
    random_targets: Callable | None = None
    per_output_mean: bool = False
    value_from_z: Callable | None = None
    delta_from_z: Callable | None = None
    sample_term_from_z: Callable | None = None
    #: Integer class labels are accepted as targets (turned into one-hot rows).
    labels: bool = False
    #: The loss has a margin Δ (the hinge): its functions take ``margin`` (and NumPy's ``axis``) keywords.
    takes_margin: bool = False
    #: ``kink_state(a, y, axis, margin)``: where the loss is not differentiable, the state whose change says a step
    #: crossed a kink of the loss (None for a smooth loss).
    kink_state: Callable | None = None
    #: ``on_kink(a, y, axis, margin)``: the entries of the kink state that sit exactly on a kink (a hinge term at 0).
    on_kink: Callable | None = None
    #: Where the loss is not differentiable, in words ("" for a smooth loss).
    kink_text: str = ""
    #: {reduction: (formula, grad_formula)} for the reductions other than "mean"; one left out is refused.
    reduced: dict = field(default_factory=dict)
    #: Why a reduction is refused, {reduction: reason}.
    refused: dict = field(default_factory=dict)
    #: What computing it costs per output entry, from z where it is defined with its output activation (one core;
    #: a check's time estimate): a square about a nanosecond, a log-softmax seven.
    entry_seconds: float = 1e-9
    #: ... and the reductions it makes per row of outputs (a sample's, or a step's): the sum of its terms, and for a
    #: log-softmax the max and the sum of exponentials too.
    row_reductions: int = 1
    #: The power of an output's error e = a − y in C's terms near the target: 2 for a loss of squares, 1 for the
    #: log losses (computed from z, −log softmax(z)_y is log1p of the other classes' outputs: the error itself) and
    #: for the hinge. An error whose term e^power is below the smallest normal number is lost to C, and so is what
    #: it adds to a gradient: for squares every error below √tiny, 1.5e-154; for the others only errors below tiny.
    error_power: int = 2

    @property
    def kinked(self):
        return self.kink_state is not None

    def __repr__(self):
        return f"Loss({self.name!r}: C = {self.formula})"


#: A stack of samples' outputs is summed a column at a time (:func:`_row_sums`) up to this many outputs per sample;
#: beyond, NumPy's own reduction is as fast.
ROW_SUM_OUTPUTS = 16


def _sum2(x):
    """Σ over the last two axes: the whole batch's terms, or each sample's. Where each sample's are a contiguous
    (..., 1, K) (the row convention's stacks of samples, as the finite differences ask for them), in float64 and for
    K ≤ :data:`ROW_SUM_OUTPUTS`, the same sums come from :func:`_row_sums`, several times faster; the column
    convention's (..., K, 1) NumPy already sums an output at a time across the samples."""
    if (x.dtype == np.float64 and x.ndim >= 2 and x.shape[-2] == 1 and 0 < x.shape[-1] <= ROW_SUM_OUTPUTS
            and x.flags.c_contiguous):
        return _row_sums(x[..., 0, :])
    return x.sum(axis=(-2, -1))


def _row_sums(x):
    """``x.sum(axis=-1)`` of a C-contiguous float64 array whose rows hold at most 128 numbers, bit for bit, a column
    at a time across all rows: NumPy sums such a row pairwise, in eight running sums (the first eight numbers, each
    added to by every whole eight after) combined as ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), then the
    numbers left one by one, all added to the reduction's start, 0; fewer than eight, one by one from 0. On short
    rows its reduction costs far more per row than the additions (a stack of 16,448 rows of ten: 0.32 ms against
    0.12 ms; of four, 0.27 against 0.03); a test holds the two to the same bits."""
    k = x.shape[-1]
    cols = [x[..., j] for j in range(k)]
    out = np.zeros(x.shape[:-1])
    if k < 8:
        for c in cols:
            out += c
        return out
    r = cols[:8]
    for i in range(8, k - k % 8, 8):
        r = [a + b for a, b in zip(r, cols[i:i + 8])]
    out += ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for c in cols[k - k % 8:]:
        out += c
    return out


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in [
        Loss("mse", "1/(N·K) Σ_n Σ_k (a_nk − y_nk)²", "2 * (a - y) / (N * K)",
             lambda a, y, n, k: _sum2((a - y) ** 2) / (n * k),
             lambda a, y, n, k: 2.0 * (a - y) / (n * k),
             lambda a, y, n, k: sum((ai - yi) ** 2 for ai, yi in zip(a, y)) / (n * k), per_output_mean=True,
             reduced={"sum": ("Σ_n Σ_k (a_nk − y_nk)²", "2 * (a - y)"),
                      "per_sample": ("1/N Σ_n Σ_k (a_nk − y_nk)²", "2 * (a - y) / N")}),
        Loss("quadratic", "1/(2N) Σ_n ‖a_n − y_n‖²", "(a - y) / N",
             lambda a, y, n, k: _sum2((a - y) ** 2) / (2 * n),
             lambda a, y, n, k: (a - y) / n,
             lambda a, y, n, k: sum((ai - yi) ** 2 for ai, yi in zip(a, y)) / (2 * n),
             reduced={"sum": ("½ Σ_n ‖a_n − y_n‖²", "a - y"),
                      "per_sample": ("1/(2N) Σ_n ‖a_n − y_n‖²", "(a - y) / N")}),
        Loss("sse", "½ Σ_n ‖a_n − y_n‖²", "a - y",
             lambda a, y, n, k: _sum2((a - y) ** 2) / 2,
             lambda a, y, n, k: a - y,
             lambda a, y, n, k: sum((ai - yi) ** 2 for ai, yi in zip(a, y)) / 2,
             reduced={"sum": ("½ Σ_n ‖a_n − y_n‖²", "a - y")},
             refused={"per_sample": "loss sse is a sum by definition (½ Σ_n ‖a_n − y_n‖²); its per-sample average "
                                    "is loss quadratic"}),
        Loss("cross_entropy", "−1/N Σ_n Σ_k y_nk log a_nk", "-y / a / N",
             lambda a, y, n, k: -_sum2(_y_log(y, a)) / n,
             lambda a, y, n, k: -np.where(y != 0, y, 0.0) / np.where(y != 0, a, 1.0) / n,
             lambda a, y, n, k: -sum(yi * _sym_log(ai) for ai, yi in zip(a, y)) / n,
             output="softmax", target_range=(0.0, 1.0), one_hot=True, labels=True,
             reduced={"sum": ("−Σ_n Σ_k y_nk log a_nk", "-y / a"),
                      "per_sample": ("−1/N Σ_n Σ_k y_nk log a_nk", "-y / a / N")},
             random_targets=lambda rng, n, k: np.eye(k)[rng.integers(0, k, n)],
             value_from_z=lambda z, y, n, k, axis: -_sum2(y * log_softmax(z, axis)) / n,
             delta_from_z=lambda z, a, y, n, k, axis: (a * y.sum(axis=axis, keepdims=True) - y) / n,
             sample_term_from_z=_cross_entropy_term_from_z, entry_seconds=7e-9, row_reductions=3, error_power=1),
        Loss("bce", "−1/(N·K) Σ_n Σ_k [y log a + (1 − y) log(1 − a)]", "(a - y) / (a * (1 - a)) / (N * K)",
             lambda a, y, n, k: -_sum2(_y_log(y, a) + _y_log(1.0 - y, 1.0 - a)) / (n * k),
             lambda a, y, n, k: (a - y) / (a * (1.0 - a)) / (n * k),
             lambda a, y, n, k: -sum(yi * _sym_log(ai) + (1 - yi) * _sym_log(1 - ai)
                                     for ai, yi in zip(a, y)) / (n * k),
             output="sigmoid", target_range=(0.0, 1.0), per_output_mean=True,
             reduced={"sum": ("−Σ_n Σ_k [y log a + (1 − y) log(1 − a)]", "(a - y) / (a * (1 - a))"),
                      "per_sample": ("−1/N Σ_n Σ_k [y log a + (1 − y) log(1 − a)]", "(a - y) / (a * (1 - a)) / N")},
             random_targets=lambda rng, n, k: rng.integers(0, 2, (n, k)).astype(float),
             value_from_z=lambda z, y, n, k, axis: _sum2(y * softplus_of(-z) + (1.0 - y) * softplus_of(z)) / (n * k),
             delta_from_z=lambda z, a, y, n, k, axis: _bce_delta(z, a, y) / (n * k),
             sample_term_from_z=_bce_term_from_z, entry_seconds=18e-9, error_power=1),
        Loss("svm", "1/N Σ_n Σ_{j≠y_n} max(0, a_nj − a_ny_n + Δ)",
             "svm'(a, y) / N",
             _svm_value, _svm_grad, _svm_term,
             output="linear", target_range=(0.0, 1.0), one_hot=True, labels=True, takes_margin=True,
             random_targets=lambda rng, n, k: rng.integers(0, k, n),
             kink_state=_svm_kink_state, on_kink=_svm_on_kink,
             kink_text="the svm hinge where a margin a_j − a_y + Δ is 0",
             reduced={"sum": ("Σ_n Σ_{j≠y_n} max(0, a_nj − a_ny_n + Δ)", "svm'(a, y)"),
                      "per_sample": ("1/N Σ_n Σ_{j≠y_n} max(0, a_nj − a_ny_n + Δ)", "svm'(a, y) / N")},
             entry_seconds=5e-9, row_reductions=3, error_power=1),
    ]
}


def normaliser(reduction, n, k):
    """The (n, k) a loss's functions divide by under ``reduction``: its own mean's (N, K), (1, 1) for a sum, (N, 1)
    for a sum over the outputs averaged over the samples. Works on numbers and on SymPy symbols alike."""
    return {"mean": (n, k), "sum": (1, 1), "per_sample": (n, 1)}[reduction]


@dataclass(frozen=True)
class SpecLoss:
    """A :class:`Loss` as a spec configures it: its ``reduction``, its ``margin`` (the hinge's Δ) and the
    convention's unit ``axis``. The same calls as a Loss (``value(a, y, N, K)`` with the batch's N and K, ...),
    each dividing by what the reduction says; any other attribute is the Loss's own."""

    loss: Loss
    reduction: str = "mean"
    margin: float = MARGIN
    axis: int = -2

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.loss, name)

    def _kw(self, numpy=True):
        if not self.loss.takes_margin:
            return {}
        whole = int(self.margin) if float(self.margin).is_integer() else self.margin  # SymPy writes 1, not 1.0
        return {"axis": self.axis, "margin": self.margin} if numpy else {"margin": whole}

    @property
    def formula(self):
        text = self.loss.formula if self.reduction == "mean" else self.loss.reduced[self.reduction][0]
        return f"{text} (Δ = {self.margin:g})" if self.loss.takes_margin else text

    @property
    def grad_formula(self):
        return self.loss.grad_formula if self.reduction == "mean" else self.loss.reduced[self.reduction][1]

    def value(self, a, y, n, k):
        return self.loss.value(a, y, *normaliser(self.reduction, n, k), **self._kw())

    def grad(self, a, y, n, k):
        return self.loss.grad(a, y, *normaliser(self.reduction, n, k), **self._kw())

    def sample_term(self, a, y, n, k):
        return self.loss.sample_term(a, y, *normaliser(self.reduction, n, k), **self._kw(numpy=False))

    def value_from_z(self, z, y, n, k, axis):
        return self.loss.value_from_z(z, y, *normaliser(self.reduction, n, k), axis)

    def delta_from_z(self, z, a, y, n, k, axis):
        return self.loss.delta_from_z(z, a, y, *normaliser(self.reduction, n, k), axis)

    def sample_term_from_z(self, z, y, n, k):
        return self.loss.sample_term_from_z(z, y, *normaliser(self.reduction, n, k))

    def kink_state(self, a, y):
        """The loss's kink state at output ``a`` (None for a smooth loss)."""
        return None if self.loss.kink_state is None else self.loss.kink_state(a, y, self.axis, self.margin)

    def on_kink(self, a, y):
        """The entries of :meth:`kink_state` exactly on a kink at output ``a`` (None for a smooth loss)."""
        return None if self.loss.on_kink is None else self.loss.on_kink(a, y, self.axis, self.margin)

    def __repr__(self):
        return f"SpecLoss({self.loss.name!r}: C = {self.formula})"


def other_losses(spec):
    """The other losses a learner may have differentiated instead of the spec's: those defined with the spec's
    output activation (or any), one-hot only where the spec's is, each configured by the spec
    (:func:`loss_of`); not one that refuses the spec's reduction (sse is a sum by definition: it has no
    per-sample average)."""
    here = loss_of(spec)
    last = spec.layers[-1].activation
    return [loss_of(spec, other) for other in LOSSES.values()
            if other.name != here.name and other.output in (None, last) and not (other.one_hot and not here.one_hot)
            and here.reduction not in other.refused]


def loss_of(spec, loss=None):
    """The spec's loss (or the Loss ``loss``, another one) configured by the spec: reduction, margin, axis."""
    loss = LOSSES[spec.loss] if loss is None else loss
    axis = -1 if len(spec.output_shape) == 2 else spec.conv.unit_axis  # a per-step output's rows are (N·T, K)
    return _configured(loss.name, getattr(spec, "reduction", "mean"), float(getattr(spec, "margin", MARGIN)), axis)


@cache
def _configured(name, reduction, margin, axis):
    return SpecLoss(LOSSES[name], reduction, margin, axis)
