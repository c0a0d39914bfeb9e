"""The 2-D convolution layer (cross-correlation, as CS231n and PyTorch compute it).

    out[n, f, i, j] = b[f] + Σ_{c,p,q} W[f, c, p, q] · xpad[n, c, i·S + p, j·S + q]

x is (N, C, H, W), W is (F, C, kh, kw), b is (F,) and the output (N, F, H', W') with
H' = (H + 2P − kh)/S + 1 and W' = (W + 2P − kw)/S + 1, in both conventions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError
from .base import Layer, Recorder
from .mistakes import KnownMistake, where
from .windows import col2im, out_size, pad, read_pair, shape_text, windows

__all__ = ["Conv2d"]


# -- the known mistakes of a conv backward (see .mistakes), replayed from the layer's own geometry ------------

def _dx_padded(delta, W, padded, stride):
    """∂C/∂(padded input) of a cross-correlation: δ (N, F, H', W'), W (F, C, kh, kw) -> (N, C, Hp, Wp)."""
    return col2im(np.einsum("nfhw,fcpq->nchwpq", delta, W), padded, stride)


def _padded(ly, a_prev):
    (H, W), P = a_prev.shape[-2:], ly.padding
    return (H, W), (H + 2 * P, W + 2 * P)


def _flip_dw(ly, own, delta, cache, a_prev, params, conv, bias):
    grads, da = own(delta, cache, params)
    return {**grads, "W": grads["W"][..., ::-1, ::-1]}, da


def _flip_dx(ly, own, delta, cache, a_prev, params, conv, bias):
    grads, _ = own(delta, cache, params)
    _, da = own(delta, cache, {**params, "W": params["W"][..., ::-1, ::-1]})
    return grads, da


def _padding_kept(ly, own, delta, cache, a_prev, params, conv, bias):
    grads, _ = own(delta, cache, params)
    (H, W), padded = _padded(ly, a_prev)
    return grads, _dx_padded(delta, params["W"], padded, ly.stride)[..., :H, :W]


def _stride_ignored(ly, own, delta, cache, a_prev, params, conv, bias):
    grads, _ = own(delta, cache, params)
    (H, W), padded = _padded(ly, a_prev)
    P, ho, wo = ly.padding, *delta.shape[-2:]
    win = windows(pad(a_prev, P), ly.kernel, (1, 1))[..., :ho, :wo, :, :]
    grads = {**grads, "W": np.einsum("nfhw,nchwpq->fcpq", delta, win)}
    return grads, _dx_padded(delta, params["W"], padded, (1, 1))[..., P:P + H, P:P + W]


MISTAKES = (
    KnownMistake("flipped_dw", lambda ls: (
        f"{where(ls)}: dW uses the kernel flipped by 180° (a true convolution), but the forward pass computes "
        "a cross-correlation, so dW[f, c, p, q] = Σ δ[n, f, i, j]·x_pad[n, c, i·S + p, j·S + q] with no ::-1"),
        _flip_dw),
    KnownMistake("flipped_dx", lambda ls: (
        f"{where(ls)}: dx uses the kernel flipped by 180° (w[f, :, ::-1, ::-1]); the forward pass is a "
        "cross-correlation, so each window adds W[f]·δ[n, f, i, j] back unflipped: "
        "dx_pad[n, :, i·S:i·S + kh, j·S:j·S + kw] += W[f]·δ[n, f, i, j]"), _flip_dx),
    KnownMistake("padding_kept", lambda ls: (
        f"{where(ls)}: the padding is not stripped from dx: the gradient of the padded input is cut to H×W "
        f"from its corner (dx_pad[:, :, :H, :W]); strip P = {ls[0].padding} on every side: "
        "dx = dx_pad[:, :, P:P + H, P:P + W]"), _padding_kept, applies=lambda ly: ly.padding > 0),
    KnownMistake("stride_ignored", lambda ls: (
        f"{where(ls)}: the backward pass ignores the stride S = {ls[0].stride[0]}: output "
        "(i, j) came from the window at (i·S, j·S), not (i, j), in dW and in dx"), _stride_ignored,
        applies=lambda ly: ly.stride != (1, 1)),
)


@dataclass(frozen=True, repr=False)
class Conv2d(Layer):
    """Convolution over images: ``filters`` F, ``kernel`` (kh, kw), ``stride`` S, zero ``padding`` P."""

    kind = "conv2d"
    mistakes = MISTAKES
    unit_word = "filter"
    conv_fact = True
    keys: ClassVar[dict] = {"filters": ..., "kernel": ..., "stride": 1, "padding": 0, "activation": "linear"}
    params = ("W", "b")
    weights = ("W",)
    complex_step = True
    cache_linear = True
    meanings: ClassVar[dict] = {
        "W": "filters (F, C, kh, kw)", "b": "bias, one per filter", "a_pad": "input with zero padding",
        "a_win": "every kh×kw window of the input (a view)", "z": "z = W ⋆ a_prev + b",
        "da_win": "∂C/∂(each window)", "da_pad": "∂C/∂(padded input)"}

    @classmethod
    def build(cls, read, index, in_shape, bias):
        filters = read.int("filters")
        kernel, stride = read_pair(read, "kernel"), read_pair(read, "stride")
        padding = read.int("padding", minimum=0)
        if bias.in_weights:
            raise SpecError("bias", f"bias \"augmented\" is not defined for conv layers (layers[{index}] is "
                                    "conv2d): use \"separate\" (a b per filter) or \"none\"", read.source)
        if len(in_shape) != 3:
            raise SpecError(read.path, f"conv2d {index} needs an image input (C, H, W), got a vector of "
                                       f"{in_shape[0]}; give \"input\": [C, H, W]", read.source)
        what = f"conv2d {index}"
        (ho, fh), (wo, fw) = (out_size(what, ax, n, k, s, padding, read.path, read.source)
                              for ax, n, k, s in zip("HW", in_shape[1:], kernel, stride))
        options = {"filters": filters, "kernel": list(kernel), "stride": list(stride), "padding": padding}
        x = "x" if index == 0 else "a_prev"
        b = f" + b ({filters},)" if bias.has_b else ""
        step = (f"{what}: {x} {shape_text(in_shape)} ⋆ W ({filters},{in_shape[0]},{kernel[0]},{kernel[1]}){b} -> "
                f"{shape_text((filters, ho, wo))}")
        return cls(index, tuple(in_shape), (filters, ho, wo), read.activation(), options,
                   formulas=(fh, fw, step))

    # -- facts -------------------------------------------------------------------------------
    @property
    def work(self):
        return self.units + self.fan_in + self.in_shape[0] * self.kernel[0] * self.kernel[1] * self.units

    @property
    def forward_macs(self):
        """One window's C·kh·kw products per output entry."""
        return self.in_shape[0] * self.kernel[0] * self.kernel[1] * self.units

    @property
    def kernel(self):
        return tuple(self.options["kernel"])

    @property
    def stride(self):
        return tuple(self.options["stride"])

    @property
    def padding(self):
        return self.options["padding"]

    def units_of(self, params, key, index, conv):
        """A filter's weights and bias feed its own output channel only."""
        return index // (int(np.prod(params["W"].shape[1:])) if key == "W" else 1)

    def to_json(self):
        out = super().to_json()
        for key in ("kernel", "stride"):
            if out[key][0] == out[key][1]:
                out[key] = out[key][0]
        return out

    def param_shapes(self, conv, bias):
        shapes = {"W": (self.out_shape[0], self.in_shape[0], *self.kernel)}
        if bias.has_b:
            shapes["b"] = (self.out_shape[0],)
        return shapes

    def param_layout(self, name, conv, bias):
        return "(filters, channels, kh, kw)" if name == "W" else "(filters,)"

    def init(self, rng, conv, bias):
        """W ~ N(0, 1/(C·kh·kw)), b ~ N(0, 0.1²)."""
        shapes = self.param_shapes(conv, bias)
        params = {"W": rng.normal(0.0, 1.0 / np.sqrt(np.prod(shapes["W"][1:])), shapes["W"])}
        if "b" in shapes:
            params["b"] = rng.normal(0.0, 0.1, shapes["b"])
        return params

    # -- arrays ----------------------------------------------------------------------------------
    def forward(self, params, a_prev, conv, bias, tape=None):
        """a_prev (..., N, C, H, W) -> z (..., N, F, H', W'); the cache is the windows view."""
        rec = Recorder(tape, "forward")
        P, (kh, kw), (sh, sw) = self.padding, self.kernel, self.stride
        x = a_prev
        if P:
            x = rec("a_pad", f"np.pad(a_prev, ((0, 0), (0, 0), ({P}, {P}), ({P}, {P})))", pad(a_prev, P),
                    a_prev=a_prev)
        name = "a_pad" if P else "a_prev"
        win = rec("a_win", f"sliding_window_view({name}, ({kh}, {kw}), axis=(2, 3))[:, :, ::{sh}, ::{sw}]",
                  windows(x, self.kernel, self.stride), **{name: x})
        W = params["W"]
        if W.ndim == 4:  # (F, C, kh, kw) against windows (..., N, C, H', W', kh, kw)
            z = np.moveaxis(np.tensordot(win, W, axes=([-5, -2, -1], [1, 2, 3])), -1, -3)
        elif win.ndim == 6:  # stacked filters (P, F, C, kh, kw) against one batch of windows
            z = np.swapaxes(np.tensordot(W, win, axes=([-3, -2, -1], [1, 4, 5])), -4, -3)
        else:
            z = np.einsum("...nchwpq,...fcpq->...nfhw", win, W)
        if "b" in params:
            b = params["b"][..., None, :, None, None]
            z = rec("z", "einsum('nchwpq,fcpq->nfhw', a_win, W) + b[:, None, None]", z + b,
                    a_win=win, W=W, **{"b[:, None, None]": params["b"][..., :, None, None]})
        else:
            z = rec("z", "einsum('nchwpq,fcpq->nfhw', a_win, W)", z, a_win=win, W=W)
        return z, (a_prev.shape, win)

    def output_change(self, params, key, index, delta, cache, z, conv, bias):
        """A stack (P, N, F, H', W') of z's, each with one element ``index[p]`` (flat) of ``key`` moved by ``delta[p]``.

        A filter weight touches its own output channel only: z_f(W + δ·e_fcpq) = z_f + δ·x_win[:, c, :, :, p, q],
        and z_f(b + δ·e_f) = z_f + δ. This is the layer's forward pass for channel f; the others are copied.
        """
        _, win = cache
        p = len(index)
        dtype = np.result_type(z, delta)
        stack = np.repeat(z[None].astype(dtype), p, axis=0)
        rows = np.arange(p)
        if key == "b":
            stack[rows, :, index] += delta[:, None, None, None]
            return stack
        f, c, i, j = np.unravel_index(index, params["W"].shape)
        stack[rows, :, f] += delta[:, None, None, None] * win[:, c, :, :, i, j]
        return stack

    def backward(self, delta, cache, params, conv, bias, tape=None):
        """From δ (N, F, H', W'): dW (F, C, kh, kw), db (F,), ∂C/∂a_prev (N, C, H, W)."""
        rec = Recorder(tape, "backward")
        shape, win = cache
        P, W = self.padding, params["W"]
        grads = {}
        grads["W"] = rec("dW", "einsum('nfhw,nchwpq->fcpq', delta, a_win)",
                         np.tensordot(delta, win, axes=([0, 2, 3], [0, 2, 3])), delta=delta, a_win=win)
        if "b" in params:
            grads["b"] = rec("db", "delta.sum(axis=(0, 2, 3))", delta.sum(axis=(0, 2, 3)), delta=delta)
        da_win = rec("da_win", "einsum('nfhw,fcpq->nchwpq', delta, W)",
                     np.moveaxis(np.tensordot(delta, W, axes=([1], [0])), 3, 1), delta=delta, W=W)
        padded = (shape[-2] + 2 * P, shape[-1] + 2 * P)
        name = "da_pad" if P else "da_prev"
        stride = self.stride[0] if self.stride[0] == self.stride[1] else self.stride
        da = rec(name, f"col2im(da_win, stride={stride})", col2im(da_win, padded, self.stride), da_win=da_win)
        if P:
            da = rec("da_prev", f"da_pad[:, :, {P}:-{P}, {P}:-{P}]", da[..., P:-P, P:-P], da_pad=da)
        return grads, da

    def describe(self):
        kh, kw = self.kernel
        stride = self.stride[0] if len(set(self.stride)) == 1 else self.stride
        filters = f"{self.out_shape[0]} filter{'s' if self.out_shape[0] != 1 else ''}"
        return (f"conv2d {'x'.join(map(str, self.in_shape))} -> {'x'.join(map(str, self.out_shape))}: "
                f"{filters} {kh}x{kw}, stride {stride}, padding {self.padding}, {self.act.label}")

    def symbolic_z(self, params, a_prev, conv, bias):
        """One sample's z, C order (F, H', W'): z[f, i, j] = b[f] + Σ_{c,p,q} W[f, c, p, q]·x[c, i·S + p − P,
        j·S + q − P] with x the flat list ``a_prev`` as (C, H, W); the padding's zeros drop out of the sum."""
        import sympy as sp

        C, H, Wd = self.in_shape
        (kh, kw), (sh, sw), P = self.kernel, self.stride, self.padding
        x = np.asarray(a_prev, dtype=object).reshape(self.in_shape)
        W, b = params["W"], params.get("b")
        out = []
        for f, i, j in np.ndindex(*self.out_shape):
            rows = [(p, r) for p in range(kh) if 0 <= (r := i * sh + p - P) < H]
            cols = [(q, s) for q in range(kw) if 0 <= (s := j * sw + q - P) < Wd]
            z = sp.Add(*[W[f, c, p, q] * x[c, r, s] for c in range(C) for p, r in rows for q, s in cols])
            out.append(z + b[f] if b is not None else z)
        return out

