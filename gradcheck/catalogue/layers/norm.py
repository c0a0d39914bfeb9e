"""Batch normalisation (training mode) and layer normalisation.

    μ = mean(x), σ² = Σ(x − μ)²/n (biased), x̂ = (x − μ)/√(σ² + ε), z = γ·x̂ + β

over the n values of the axes each kind normalises (``groupnorm``, in its own module, over
each sample's groups of channels):

============ ======================= =========================== ==================
kind         vectors                 images (N, C, H, W)         γ, β
============ ======================= =========================== ==================
batchnorm    each feature over N      each channel over N, H, W   (features,) / (C,)
layernorm    each sample over its     each sample over C, H, W    (features,) /
             features                                             (C, H, W)
============ ======================= =========================== ==================

The backward pass keeps μ and σ² as functions of x (they are, in training mode):

    ∂C/∂x = (1/√(σ² + ε)) · (g − mean(g) − x̂·mean(g·x̂)),   g = δ·γ,

with the means over the same axes. batchnorm uses the batch's own statistics, so one
sample's output depends on the others (``per_sample = False``). With ``"variance":
"unbiased"`` batchnorm divides by n − 1 instead (Bessel's correction); ∂σ²/∂x is then
2(x − μ)/(n − 1), and the last term of ∂C/∂x gets the factor n/(n − 1).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError, suggest
from .base import Layer, Recorder
from .mistakes import KnownMistake, where

__all__ = ["BatchNorm", "LayerNorm"]


def _constant_stats(ly, own, delta, cache, a_prev, params, conv, bias):
    """The known mistake of both norms: μ and σ² treated as constants, dx = δ·γ/√(σ² + ε)."""
    grads, _ = own(delta, cache, params)
    _, inv = cache
    spread = ly._axes(conv)[2]
    return grads, delta * spread(np.asarray(params["gamma"])) * inv


def _bessel_swapped(ly, own, delta, cache, a_prev, params, conv, bias):
    """The backward pass with the other variance's factor: n/(n − 1) where the forward divided by n, or 1 where
    it divided by n − 1 (the term x̂·mean(dxhat·x̂) of dx is the one ∂σ²/∂x feeds)."""
    grads, da = own(delta, cache, params)
    xhat, inv = cache
    axes, _, spread, *_ = ly._axes(conv)
    n = ly._count(xhat.shape, axes)
    right = ly._bessel(n)
    wrong = 1.0 if ly.unbiased else (n / (n - 1) if n > 1 else 0.0)
    g = delta * spread(np.asarray(params["gamma"]))
    return grads, da + inv * xhat * (g * xhat).mean(axis=axes, keepdims=True) * (right - wrong)


def _roundings(m):
    """Roundings of the values' scale in a pairwise sum of m values, at most: log₂m + 1."""
    return 1.0 + math.log2(max(m, 1))


def centred_rounding(x, inv, axes):
    """x̂'s rounding in units of ε, over the groups ``axes``: x − μ is good to (|x| + |μ|) ulps, μ a sum of m values
    (:func:`_roundings`), times 1/√(σ² + ε). None over a single value: μ is x, and x − μ is 0 however x rounds."""
    m = math.prod(np.shape(x)[a] for a in axes)
    if m < 2:
        return None
    x = np.abs(x)
    return _roundings(m) * (x + x.mean(axis=axes, keepdims=True)) * inv


def statistics_rounding(x, g, xhat, inv, axes, eps):
    """A norm's mean μ and variance σ², each the rounded sum of m values (pairwise: up to log₂m + 1 roundings of
    the values' scale), as terms of the loss's first-order rounding model: |μ|·|∂C/∂μ| = mean|x|·|Σ g|/√(σ² + ε)
    and |σ²|·|∂C/∂σ²| = σ²·|Σ g·x̂|/(2(σ² + ε)) over each group the norm averages (``axes``), g = ∂C/∂x̂. Where the
    values are copies of one another (x − μ = 0, σ² = 0) C is stationary in x, but not in μ: a batchnorm over equal
    values moves C by μ's rounding magnified by 1/√ε, and one element moved off θ makes that rounding a slope of
    its own, far above what the layers' z and a show."""
    sums = _roundings(math.prod(np.shape(x)[a] for a in axes))
    var = np.maximum(1.0 / (inv * inv) - eps, 0.0)
    return (sums * np.abs(x).mean(axis=axes, keepdims=True) * np.abs(g.sum(axis=axes, keepdims=True)) * inv,
            sums * var * np.abs((g * xhat).sum(axis=axes, keepdims=True)) * inv * inv / 2)


@dataclass(frozen=True, repr=False)
class _Norm(Layer):
    keys: ClassVar[dict] = {"eps": 1e-5}
    params = ("gamma", "beta")
    complex_step = True
    meanings: ClassVar[dict] = {"gamma": "scale γ", "beta": "shift β", "mu": "mean μ", "var": "biased variance σ²",
                "xhat": "normalised input (x − μ)/√(σ² + ε)", "z": "z = γ·xhat + β", "dxhat": "∂C/∂xhat = δ·γ"}

    @classmethod
    def build(cls, read, index, in_shape, bias):
        eps = read.number("eps", minimum=0.0, strict=True)
        return cls(index, tuple(in_shape), tuple(in_shape), options={"eps": eps})

    @property
    def image(self):
        return len(self.in_shape) == 3

    def describe(self):
        return f"{self.kind} over {'x'.join(map(str, self.in_shape))}, eps {self.options['eps']:g}"

    # Subclasses say which axes are normalised (negative, so stack axes may lead), which are summed
    # for dγ and dβ, how γ broadcasts, and the same as NumPy text for the shape trace.
    def _axes(self, conv):
        raise NotImplementedError

    def param_shapes(self, conv, bias):
        shape = self._param_shape()
        return {"gamma": shape, "beta": shape}

    def param_layout(self, name, conv, bias):
        return self._layout

    def init(self, rng, conv, bias):
        """γ ~ 1 + N(0, 0.1²), β ~ N(0, 0.1²): near the usual (1, 0) but not symmetric."""
        shape = self._param_shape()
        return {"gamma": 1.0 + rng.normal(0.0, 0.1, shape), "beta": rng.normal(0.0, 0.1, shape)}

    def forward(self, params, a_prev, conv, bias, tape=None):
        rec = Recorder(tape, "forward")
        axes, _, spread, text, _, spread_text = self._axes(conv)
        eps = self.options["eps"]
        mu = rec("mu", f"a_prev.mean(axis={text}, keepdims=True)", a_prev.mean(axis=axes, keepdims=True),
                 a_prev=a_prev)
        # mean((x − μ)²), not x.var(): the same numbers for real x, and analytic in a complex x (var takes |x − μ|²)
        if self.unbiased:
            n = self._count(a_prev.shape, axes)
            if n < 2:  # the spec refuses such a batch; a replay on one sample of it has no answer
                raise ValueError(f"{self.kind} {self.index}: the unbiased variance of {n} value divides by n − 1 = 0")
            var = rec("var", f"a_prev.var(axis={text}, ddof=1, keepdims=True)",
                      ((a_prev - mu) ** 2).sum(axis=axes, keepdims=True) / (n - 1), a_prev=a_prev)
        else:
            var = rec("var", f"a_prev.var(axis={text}, keepdims=True)",
                      ((a_prev - mu) ** 2).mean(axis=axes, keepdims=True), a_prev=a_prev)
        inv = 1.0 / np.sqrt(var + eps)
        xhat = rec("xhat", f"(a_prev - mu) / np.sqrt(var + {eps:g})", (a_prev - mu) * inv,
                   a_prev=a_prev, mu=mu, var=var)
        g, b = spread(params["gamma"]), spread(params["beta"])
        z = rec("z", f"{spread_text('gamma')} * xhat + {spread_text('beta')}", g * xhat + b,
                xhat=xhat, **{spread_text("gamma"): g, spread_text("beta"): b})
        return z, (xhat, inv)

    def backward(self, delta, cache, params, conv, bias, tape=None):
        rec = Recorder(tape, "backward")
        xhat, inv = cache
        axes, sums, spread, text, sums_text, spread_text = self._axes(conv)
        grads = {
            "gamma": rec("dgamma", f"(delta * xhat).sum(axis={sums_text})", (delta * xhat).sum(axis=sums),
                         delta=delta, xhat=xhat),
            "beta": rec("dbeta", f"delta.sum(axis={sums_text})", delta.sum(axis=sums), delta=delta),
        }
        g = rec("dxhat", f"delta * {spread_text('gamma')}", delta * spread(params["gamma"]),
                delta=delta, **{spread_text("gamma"): spread(params["gamma"])})
        n = self._count(xhat.shape, axes)
        last = (g * xhat).mean(axis=axes, keepdims=True)
        if self.unbiased:
            last = last * self._bessel(n)
        da = inv * (g - g.mean(axis=axes, keepdims=True) - xhat * last)
        per = math.prod(self.in_shape[1:])  # values per sample in each mean: H·W of spatial batchnorm, else 1
        count = "N" if per == 1 else f"{per}*N"
        factor = f"{count}/({count} - 1) * " if self.unbiased else ""
        da = rec("da_prev", f"(dxhat - dxhat.mean(axis={text}, keepdims=True) - {factor}xhat * (dxhat * xhat)"
                            f".mean(axis={text}, keepdims=True)) / np.sqrt(var + {self.options['eps']:g})",
                 da, dxhat=g, xhat=xhat, var=inv)  # var has the shape of 1/√(σ² + ε)
        return grads, da

    def output_rounding(self, cache, params, a_prev, conv):
        """γ·x̂'s rounding: x − μ is good to (|x| + |μ|) ulps, μ a sum of m values (log₂m + 1 roundings), times
        1/√(σ² + ε): over values alike to their last digits x̂ is that rounding alone (a batchnorm whose μ another
        summation order rounds a few ulps away puts x̂ at 2e-14 instead of 6e-14)."""
        axes, _, spread, *_ = self._axes(conv)
        err = centred_rounding(a_prev, cache[1], axes)
        return None if err is None else err * np.abs(spread(params["gamma"]))

    def rounding_terms(self, delta, fw, params, conv):
        """See :func:`statistics_rounding`."""
        xhat, inv = fw.a_in[self.index]
        axes, _, spread, *_ = self._axes(conv)
        return statistics_rounding(fw.a_prev(self), delta * spread(params["gamma"]), xhat, inv, axes,
                                   self.options["eps"])

    def backward_magnitude(self, size, cache, params, conv, bias, a_prev=None):
        """:meth:`backward` on magnitudes (``size``, ``cache``, ``params`` and ``a_prev`` are ≥ 0) with every term
        added: the means that cancel in ∂C/∂x would cancel the sizes too. With ``a_prev``, x̂ also counts its own
        rounding, (|x| + |μ|)/√(σ² + ε) in units of ε (where x − μ cancels, on a single feature, that is all of x̂
        a float64 forward has), once in each product, as a first-order error."""
        xhat, inv = cache
        axes, sums, spread, *_ = self._axes(conv)
        err = 0.0 if a_prev is None else (a_prev + a_prev.mean(axis=axes, keepdims=True)) * inv

        def mean(x):
            return x.mean(axis=axes, keepdims=True)

        grads = {"gamma": (size * (xhat + err)).sum(axis=sums), "beta": size.sum(axis=sums)}
        g = size * spread(params["gamma"])
        c = self._bessel(self._count(xhat.shape, axes))
        return grads, inv * (g + mean(g) + c * xhat * mean(g * xhat) + c * err * mean(g * xhat)
                             + c * xhat * mean(g * err))

    def shape_hint(self, key, got, expected, n):
        """dγ or dβ not summed over the samples (and over H and W for spatial batchnorm), or kept 2-D."""
        got, expected, shape = tuple(got), tuple(expected), tuple(self.in_shape)
        name = "d" + key
        per_sample = {(n, *shape)} | ({(shape[0], n)} if not self.image else set())
        if got in per_sample:
            return (f"{name} is not summed over the {n} samples: {self.kind}'s {key} is shared by every sample, "
                    f"so sum its per-sample values over the batch (axis 0 in the row convention): shape {expected}")
        if got in {(1, *expected), (*expected, 1)}:
            return f"{name} must have shape {expected}: sum without keepdims (or .ravel())"
        return ""

    @property
    def unbiased(self):
        """True when the variance divides by n − 1 (Bessel's correction) instead of n."""
        return self.options.get("variance") == "unbiased"

    @staticmethod
    def _count(shape, axes):
        """n, the values each mean is over: the product of ``shape`` along ``axes``."""
        return int(np.prod([shape[a] for a in axes]))

    def _bessel(self, n):
        """∂C/∂x's factor on x̂·mean(dxhat·x̂): n/(n − 1) for the unbiased variance, 1 for the biased."""
        return n / (n - 1) if self.unbiased else 1.0

    def _symbolic_norm(self, values, gamma, beta, define=None, index=(0,), first=None):
        """γ·(v − μ)/√(σ² + ε) + β over the list ``values`` (μ, σ² their mean and variance, biased or not); with
        ``first``, for the first that many values only.

        ``define(letter, index, expr)`` (from the derivation) names μ and σ² as intermediate symbols.
        """
        import sympy as sp

        def named(letter, expr):
            return define(letter, index, expr) if define is not None else expr

        from ..sympy_forms import product, total

        mu = named("mu", sp.Add(*values) / len(values))  # one sum: a running one is quadratic in the values
        var = named("var", sp.Add(*[(v - mu) ** 2 for v in values]) / (len(values) - (1 if self.unbiased else 0)))
        inv = 1 / sp.sqrt(var + sp.Rational(repr(self.options["eps"])))
        return [total([product(g, total([v, -mu]), inv), b]) for v, g, b in zip(values[:first], gamma, beta)]


def _axes_text(axes):
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))


@dataclass(frozen=True, repr=False)
class BatchNorm(_Norm):
    """Batch normalisation, training mode: each feature (channel) over the batch (and H, W)."""

    kind = "batchnorm"
    keys: ClassVar[dict] = {"eps": 1e-5, "variance": "biased"}
    per_sample = False
    mixes_samples = True
    mistakes = (
        KnownMistake("constant_stats", lambda ls: (
            f"{where(ls)} treats the batch mean μ and variance σ² as constants (dx = δ·γ/√(σ² + ε)); they depend "
            "on x, so dx = (dxhat − mean(dxhat) − x̂·mean(dxhat·x̂))/√(σ² + ε) with dxhat = δ·γ"), _constant_stats),
        KnownMistake("backward_biased", lambda ls: (
            f"{where(ls)}: the forward pass divides the batch variance by n − 1 (variance \"unbiased\") but the "
            "backward pass by n (∂σ²/∂x = 2(x − μ)/n); with 1/(n − 1) in both, dx = (dxhat − mean(dxhat) − "
            "n/(n − 1)·x̂·mean(dxhat·x̂))/√(σ² + ε)"), _bessel_swapped, applies=lambda ly: ly.unbiased),
        KnownMistake("backward_unbiased", lambda ls: (
            f"{where(ls)}: the forward pass divides the batch variance by n (biased) but the backward pass by "
            "n − 1 (∂σ²/∂x = 2(x − μ)/(n − 1), Bessel's correction); with 1/n in both, dx = (dxhat − mean(dxhat) − "
            "x̂·mean(dxhat·x̂))/√(σ² + ε), or set \"variance\": \"unbiased\" if the forward pass is meant to "
            "divide by n − 1"), _bessel_swapped, applies=lambda ly: not ly.unbiased),
    )

    @classmethod
    def build(cls, read, index, in_shape, bias):
        if len(in_shape) == 2:
            raise SpecError(read.path, f"batchnorm layer {index} gets a sequence ({in_shape[0]}x{in_shape[1]}); "
                                       "normalise each step with {\"type\": \"layernorm\"}, or flatten first",
                            read.source)
        ly = super().build(read, index, in_shape, bias)
        variance, valid = read.get("variance"), ["biased", "unbiased"]
        if variance not in valid:
            got = f"unknown '{variance}'{suggest(variance, valid)}; expected" if isinstance(variance, str) else \
                f"got {json.dumps(variance, default=str)}, expected"
            raise SpecError(f"{read.path}.variance", f"{got} one of biased, unbiased", read.source)
        if variance == "biased":  # the default is not written out: a net.json without it reads back the same
            return ly
        return cls(index, ly.in_shape, ly.out_shape, options={**ly.options, "variance": variance})

    def check_batch(self, n, source=None):
        """variance "unbiased" divides by n − 1: a batch whose statistics are over one value is refused."""
        count = n * math.prod(self.in_shape[1:])
        if self.unbiased and count < 2:
            raise SpecError(f"layers[{self.index}].variance", f"\"unbiased\" divides the batch variance by n − 1, "
                            f"and a batch of {n} sample{'s' if n != 1 else ''} gives n = {count} value per "
                            f"{'channel' if self.image else 'feature'}, so n − 1 = 0; use a batch of at least 2 "
                            "samples or variance \"biased\"", source)

    @property
    def meanings(self):
        if not self.unbiased:
            return _Norm.meanings
        return {**_Norm.meanings, "var": "unbiased variance σ² = Σ(x − μ)²/(n − 1)"}

    def describe(self):
        return super().describe() + (", unbiased variance" if self.unbiased else "")

    def shape_hint(self, key, got, expected, n):
        if not self.image:
            return super().shape_hint(key, got, expected, n)
        got, expected, shape, name = tuple(got), tuple(expected), tuple(self.in_shape), "d" + key
        summed = {(n, *shape): "not summed at all", shape: "summed over N only",
                  (n, shape[0]): "summed over H and W only"}
        if got in summed:
            return (f"{name} is {summed[got]}: spatial batchnorm has one {key} per channel, so sum over N, H and W "
                    f"(axis=(0, 2, 3)): shape {expected}")
        if got in {(1, expected[0], 1, 1), (1, expected[0])}:
            return f"{name} must be a flat vector of shape {expected}: sum without keepdims (or .ravel())"
        return ""

    def _param_shape(self):
        return (self.in_shape[0],)

    @property
    def rowwise(self):
        """True on vectors: each feature is normalised over the batch on its own (see :meth:`row_change`)."""
        return not self.image

    @property
    def structured(self):
        """True on vectors: γ_j and β_j move feature j's z only (see :meth:`unit_change`)."""
        return not self.image

    def unit_change(self, params, key, index, delta, cache, z, conv, bias):
        """Feature j's z over the batch when γ_j or β_j (flat ``index`` (P,) of ``key``) moves by ``delta`` (P,):
        (j (P,), z_j + δ·x̂_j (γ) or z_j + δ (β), (P, N)), the forward pass for feature j."""
        xhat = cache[0] if conv.samples_are_columns else cache[0].T
        rows = z if conv.samples_are_columns else z.T
        moved = xhat[index] if key == "gamma" else 1.0
        return index, rows[index] + delta[:, None] * moved

    def row_change(self, params, unit, x_row, conv):
        """z of features ``unit`` (P,) whose inputs over the batch are ``x_row`` (P, N): each feature's own
        forward pass, as :meth:`forward` computes it (for finite differences that move one feature's input)."""
        mu = x_row.mean(axis=-1, keepdims=True)
        if self.unbiased:  # Bessel's 1/(n − 1), as forward computes it
            var = ((x_row - mu) ** 2).sum(axis=-1, keepdims=True) / (x_row.shape[-1] - 1)
        else:
            var = ((x_row - mu) ** 2).mean(axis=-1, keepdims=True)
        xhat = (x_row - mu) * (1.0 / np.sqrt(var + self.options["eps"]))
        return params["gamma"][unit][:, None] * xhat + params["beta"][unit][:, None]

    @property
    def _layout(self):
        return "(channels,), one per channel" if self.image else "(features,), one per feature"

    def _axes(self, conv):
        if self.image:
            axes, text = (-4, -2, -1), (0, 2, 3)
            return axes, axes, (lambda p: p[..., None, :, None, None]), _axes_text(text), _axes_text(text), \
                (lambda name: f"{name}[:, None, None]")
        if conv.samples_are_columns:
            return (-1,), (-1,), (lambda p: p[..., :, None]), "1", "1", (lambda name: f"{name}[:, None]")
        return (-2,), (-2,), (lambda p: p[..., None, :]), "0", "0", (lambda name: name)

    def symbolic_batch(self, params, a_prev, conv, bias, define=None, alike=None):
        """Every sample's z (a list per sample, C order): each feature (channel) over the batch (and H, W).

        Each sample's z is the same form of its own inputs and the shared μ and σ²: given ``alike`` (every
        sample's list from sample 0's, renamed), only sample 0's is written and ``alike`` makes the others.
        """
        n, groups = len(a_prev), self.in_shape[0]
        per = len(a_prev[0]) // groups  # 1 for vectors, H·W for images
        written = 1 if alike is not None else n
        out = [[None] * len(a_prev[0]) for _ in range(written)]
        for c in range(groups):
            members = [(s, k) for s in range(n) for k in range(c * per, (c + 1) * per)]
            zs = self._symbolic_norm([a_prev[s][k] for s, k in members], [params["gamma"][c]] * len(members),
                                     [params["beta"][c]] * len(members), define, (c,), written * per)
            for (s, k), z in zip(members, zs):
                out[s][k] = z
        return out if alike is None else alike(out[0])


@dataclass(frozen=True, repr=False)
class LayerNorm(_Norm):
    """Layer normalisation: each sample over all of its features (C, H, W for images); on a sequence (N, T, D),
    each step over its D features, with γ and β of shape (D,) shared by the steps."""

    symbolic_dense = True

    kind = "layernorm"
    mistakes = (
        KnownMistake("constant_stats", lambda ls: (
            f"{where(ls)} treats each sample's mean μ and variance σ² as constants (dx = δ·γ/√(σ² + ε)); they "
            "depend on x, so dx = (dxhat − mean(dxhat) − x̂·mean(dxhat·x̂))/√(σ² + ε) over the sample's features, "
            "dxhat = δ·γ"), _constant_stats),
    )

    @property
    def steps(self):
        """True on a sequence (T, D): every step normalised on its own."""
        return len(self.in_shape) == 2

    @property
    def row_reductions(self):
        """The mean and the variance of each step (of the sample, off a sequence)."""
        return 2 * (self.in_shape[0] if self.steps else 1)

    def _param_shape(self):
        return (self.in_shape[-1],) if self.steps else tuple(self.in_shape)

    @property
    def _layout(self):
        if self.steps:
            return "(D,), one per feature of a step (shared by the steps)"
        return "(C, H, W), the shape of one sample" if self.image else "(features,), one per feature"

    def _axes(self, conv):
        if self.steps:
            return (-1,), (-3, -2), (lambda p: p[..., None, None, :]), "2", "(0, 1)", (lambda name: name)
        if self.image:
            return (-3, -2, -1), (-4,), (lambda p: p[..., None, :, :, :]), "(1, 2, 3)", "0", (lambda name: name)
        if conv.samples_are_columns:
            return (-2,), (-1,), (lambda p: p[..., :, None]), "0", "1", (lambda name: f"{name}[:, None]")
        return (-1,), (-2,), (lambda p: p[..., None, :]), "1", "0", (lambda name: name)

    def symbolic_z(self, params, a_prev, conv, bias, define=None):
        """One sample's z: all of its features normalised together, γ and β shaped like the sample (on a
        sequence, each step's D features, with one μ and σ² per step)."""
        gamma, beta = np.ravel(params["gamma"]), np.ravel(params["beta"])
        if self.steps:
            d = self.in_shape[-1]
            return [z for t in range(self.in_shape[0])
                    for z in self._symbolic_norm(list(a_prev[t * d:(t + 1) * d]), gamma, beta, define, index=(t,))]
        return self._symbolic_norm(list(a_prev), gamma, beta, define)

