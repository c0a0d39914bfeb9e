"""Group normalisation (spatial, as in CS231n): each sample's C channels split into G groups of C/G.

On a batch of images (N, C, H, W), each sample's group g (channels g·C/G … (g + 1)·C/G − 1,
all of H and W) is normalised with its own mean and biased variance over its
n = (C/G)·H·W values, then every channel gets its own scale and shift:

    x = a_prev.reshape(N, G, C/G, H, W),  μ, σ² over axes (2, 3, 4),
    x̂ = ((x − μ)/√(σ² + ε)).reshape(N, C, H, W),  z = γ[c]·x̂ + β[c].

γ and β have shape (C,) in both conventions (images are (N, C, H, W) in both). G = 1 is
layer normalisation with per-channel γ, G = C is instance normalisation. The backward pass
is the norm's, over each group:

    ∂C/∂x = (1/√(σ² + ε))·(g − mean(g) − x̂·mean(g·x̂)),  g = δ·γ[c],
    ∂C/∂γ = Σ_{N,H,W} δ·x̂,  ∂C/∂β = Σ_{N,H,W} δ.

One sample's output depends on that sample only, so finite differences fold stacks into
the batch; a γ_c or β_c moves channel c of z only (``output_change``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError
from .base import Recorder
from .mistakes import KnownMistake, where
from .norm import _Norm, centred_rounding, statistics_rounding

__all__ = ["GroupNorm"]


def _regrouped(groups_of):
    """The mistake of computing μ and σ² over other groups (``groups_of(ly)`` of them) in both passes."""
    def configured(ly):
        return dataclasses.replace(ly, options={**ly.options, "groups": groups_of(ly)})
    return configured


def _constant_stats(ly, own, delta, cache, a_prev, params, conv, bias):
    """μ and σ² treated as constants: dx = δ·γ/√(σ² + ε)."""
    grads, _ = own(delta, cache, params)
    _, inv = cache
    return grads, delta * np.asarray(params["gamma"])[:, None, None] * ly._spread(inv)


def _own(ly, own, delta, cache, a_prev, params, conv, bias):
    return own(delta, cache, params)


MISTAKES = (
    KnownMistake("per_channel", lambda ls: (
        f"{where(ls)} computes μ and σ² per channel (instance norm, over H and W of each channel) instead of per "
        f"group of {ls[0].in_shape[0] // ls[0].groups} channels: reshape to (N, G, C/G·H·W) with G = "
        f"{ls[0].groups} and take the statistics over the last axis, in the forward and the backward pass"),
        _own, configured=_regrouped(lambda ly: ly.in_shape[0]), applies=lambda ly: ly.groups < ly.in_shape[0]),
    KnownMistake("whole_sample", lambda ls: (
        f"{where(ls)} computes μ and σ² over the whole sample (layer norm, over C, H and W) instead of per group "
        f"of {ls[0].in_shape[0] // ls[0].groups} channels: reshape to (N, G, C/G·H·W) with G = {ls[0].groups} "
        "and take the statistics over the last axis, in the forward and the backward pass"),
        _own, configured=_regrouped(lambda ly: 1), applies=lambda ly: ly.groups > 1),
    KnownMistake("constant_stats", lambda ls: (
        f"{where(ls)} treats each group's mean μ and variance σ² as constants (dx = δ·γ/√(σ² + ε)); they depend "
        "on x, so dx = (dxhat − mean(dxhat) − x̂·mean(dxhat·x̂))/√(σ² + ε) over each group, dxhat = δ·γ"),
        _constant_stats),
)


@dataclass(frozen=True, repr=False)
class GroupNorm(_Norm):
    """Group normalisation of images: each sample over each group of C/G channels × H × W."""

    kind = "groupnorm"
    keys: ClassVar[dict] = {"groups": ..., "eps": 1e-5}
    mistakes = MISTAKES
    meanings: ClassVar[dict] = {**_Norm.meanings, "mu": "mean μ of each sample's group",
                                "var": "biased variance σ² of each sample's group",
                                "x": "a_prev with the channels split into groups: (N, G, C/G, H, W)",
                                "dxg": "∂C/∂xhat with the channels split into groups"}

    @classmethod
    def build(cls, read, index, in_shape, bias):
        groups = read.int("groups")
        path = f"{read.path}.groups"
        if len(in_shape) != 3:
            raise SpecError(path, f"groupnorm splits the channels of images (N, C, H, W) into {groups} groups, but "
                                  f"its input is a vector of {in_shape[0]} features; put it before flatten (or use "
                                  "layernorm on vectors)", read.source)
        c = in_shape[0]
        if c % groups:
            fits = [g for g in range(1, c + 1) if c % g == 0]
            raise SpecError(path, f"{c} channels do not split into {groups} groups (C = {c} is not divisible by "
                                  f"G = {groups}); use a G that divides {c}: {', '.join(map(str, fits))}",
                            read.source)
        eps = read.number("eps", minimum=0.0, strict=True)
        return cls(index, tuple(in_shape), tuple(in_shape), options={"groups": groups, "eps": eps})

    @property
    def groups(self):
        return self.options["groups"]

    def describe(self):
        sizes = "x".join(map(str, self.in_shape))
        return f"groupnorm over {sizes} in {self.groups} groups, eps {self.options['eps']:g}"

    def _param_shape(self):
        return (self.in_shape[0],)

    _layout = "(channels,), one per channel in both conventions"

    def _spread(self, v):
        """A group's value (..., N, G, 1, 1, 1) on each of its entries (..., N, C, H, W)."""
        c, h, w = self.in_shape
        return np.broadcast_to(v, (*v.shape[:-3], c // self.groups, h, w)).reshape(*v.shape[:-4], c, h, w)

    def _grouped(self, x):
        """(..., N, C, H, W) -> (..., N, G, C/G, H, W), a view."""
        c, h, w = self.in_shape
        return x.reshape(*x.shape[:-3], self.groups, c // self.groups, h, w)

    def _shape_text(self):
        c, h, w = self.in_shape
        return f"-1, {self.groups}, {c // self.groups}, {h}, {w}", f"-1, {c}, {h}, {w}"

    def forward(self, params, a_prev, conv, bias, tape=None):
        rec = Recorder(tape, "forward")
        grouped, flat = self._shape_text()
        eps = self.options["eps"]
        axes = (-3, -2, -1)
        x = rec("x", f"a_prev.reshape({grouped})", self._grouped(a_prev), a_prev=a_prev)
        mu = rec("mu", "x.mean(axis=(2, 3, 4), keepdims=True)", x.mean(axis=axes, keepdims=True), x=x)
        # mean((x − μ)²), not x.var(): analytic in a complex x, for the complex step
        var = rec("var", "x.var(axis=(2, 3, 4), keepdims=True)", ((x - mu) ** 2).mean(axis=axes, keepdims=True), x=x)
        inv = 1.0 / np.sqrt(var + eps)
        xhat = rec("xhat", f"((x - mu) / np.sqrt(var + {eps:g})).reshape({flat})",
                   ((x - mu) * inv).reshape(a_prev.shape),
                   x=x, mu=mu, var=var)
        g, b = params["gamma"][..., None, :, None, None], params["beta"][..., None, :, None, None]
        z = rec("z", "gamma[:, None, None] * xhat + beta[:, None, None]", g * xhat + b, xhat=xhat,
                **{"gamma[:, None, None]": g, "beta[:, None, None]": b})
        return z, (xhat, inv)

    def backward(self, delta, cache, params, conv, bias, tape=None):
        rec = Recorder(tape, "backward")
        xhat, inv = cache
        grouped, flat = self._shape_text()
        grads = {
            "gamma": rec("dgamma", "(delta * xhat).sum(axis=(0, 2, 3))", (delta * xhat).sum(axis=(-4, -2, -1)),
                         delta=delta, xhat=xhat),
            "beta": rec("dbeta", "delta.sum(axis=(0, 2, 3))", delta.sum(axis=(-4, -2, -1)), delta=delta),
        }
        gamma = params["gamma"][..., None, :, None, None]
        g = rec("dxhat", "delta * gamma[:, None, None]", delta * gamma, delta=delta, **{"gamma[:, None, None]": gamma})
        gg = rec("dxg", f"dxhat.reshape({grouped})", self._grouped(g), dxhat=g)
        xg = self._grouped(xhat)
        axes = (-3, -2, -1)
        da = inv * (gg - gg.mean(axis=axes, keepdims=True) - xg * (gg * xg).mean(axis=axes, keepdims=True))
        xh = f"xhat.reshape({grouped})"
        da = rec("da_prev", f"((dxg - dxg.mean(axis=(2, 3, 4), keepdims=True) - {xh} * (dxg * {xh})"
                            f".mean(axis=(2, 3, 4), keepdims=True)) / np.sqrt(var + {self.options['eps']:g}))"
                            f".reshape({flat})",
                 da.reshape(delta.shape), dxg=gg, xhat=xhat, var=inv)
        return grads, da

    def output_rounding(self, cache, params, a_prev, conv):
        """See :meth:`~gradcheck.catalogue.layers.norm._Norm.output_rounding`: over each group's channels."""
        err = centred_rounding(self._grouped(a_prev), cache[1], (-3, -2, -1))
        if err is None:
            return None
        return err.reshape(np.shape(a_prev)) * np.abs(params["gamma"])[..., None, :, None, None]

    def rounding_terms(self, delta, fw, params, conv):
        """See :func:`~gradcheck.catalogue.layers.norm.statistics_rounding`: over each group's channels."""
        xhat, inv = fw.a_in[self.index]
        g = delta * params["gamma"][..., None, :, None, None]
        return statistics_rounding(self._grouped(fw.a_prev(self)), self._grouped(g), self._grouped(xhat), inv,
                                   (-3, -2, -1), self.options["eps"])

    def backward_magnitude(self, size, cache, params, conv, bias, a_prev=None):
        """:meth:`backward` on magnitudes with every term added (see the norms' ``backward_magnitude``)."""
        xhat, inv = cache
        axes = (-3, -2, -1)
        err = 0.0
        if a_prev is not None:
            x = self._grouped(a_prev)
            err = ((x + x.mean(axis=axes, keepdims=True)) * inv).reshape(xhat.shape)

        def mean(v):
            return self._spread(self._grouped(v).mean(axis=axes, keepdims=True))

        grads = {"gamma": (size * (xhat + err)).sum(axis=(-4, -2, -1)), "beta": size.sum(axis=(-4, -2, -1))}
        g = size * params["gamma"][..., None, :, None, None]
        return grads, (g + mean(g) + xhat * mean(g * xhat) + err * mean(g * xhat) + xhat * mean(g * err)) \
            * self._spread(inv)

    def output_change(self, params, key, index, delta, cache, z, conv, bias):
        """A stack (P, N, C, H, W) of z's, each with element ``index[p]`` of γ or β moved by ``delta[p]``: channel c's
        z_c + δ·x̂_c (γ_c) or z_c + δ (β_c), the forward pass of that channel; the others are copied."""
        xhat, _ = cache
        p = len(index)
        stack = np.repeat(z[None].astype(np.result_type(z, delta)), p, axis=0)
        rows = np.arange(p)
        step = delta[:, None, None, None]
        stack[rows, :, index] += step * xhat[:, index].swapaxes(0, 1) if key == "gamma" else step
        return stack

    def shape_hint(self, key, got, expected, n):
        got, expected, shape, name = tuple(got), tuple(expected), tuple(self.in_shape), "d" + key
        summed = {(n, *shape): "not summed at all", shape: "summed over N only",
                  (n, shape[0]): "summed over H and W only", (n, self.groups): "summed over each sample's groups",
                  (self.groups,): "summed per group"}
        if got in summed:
            return (f"{name} is {summed[got]}: groupnorm has one {key} per channel, shared by every sample and "
                    f"position, so sum over N, H and W (axis=(0, 2, 3)): shape {expected}")
        if got in {(1, expected[0], 1, 1), (1, expected[0])}:
            return f"{name} must be a flat vector of shape {expected}: sum without keepdims (or .ravel())"
        return ""

    def symbolic_z(self, params, a_prev, conv, bias, define=None):
        """One sample's z: each group of C/G channels × H × W normalised together, γ and β per channel."""
        c, h, w = self.in_shape
        per = (c // self.groups) * h * w
        gamma, beta = np.ravel(params["gamma"]), np.ravel(params["beta"])
        out = []
        for g in range(self.groups):
            ks = range(g * per, (g + 1) * per)
            out += self._symbolic_norm([a_prev[k] for k in ks], [gamma[k // (h * w)] for k in ks],
                                       [beta[k // (h * w)] for k in ks], define, (g,))
        return out
