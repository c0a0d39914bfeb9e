"""Max and average pooling over kh×kw windows taken every S pixels (no params).

    max: out[n, c, i, j] = max_{p,q} x[n, c, i·S + p, j·S + q]
    avg: out[n, c, i, j] = 1/(kh·kw) Σ_{p,q} x[n, c, i·S + p, j·S + q]

H' = (H − kh)/S + 1; a window that does not tile, (H − kh) % S ≠ 0, is bad input.
The max-pool gradient goes to the window's maximum only (the first one on a tie, as
PyTorch does); the avg-pool gradient is spread evenly, δ/(kh·kw), over the window.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError
from ..activations import SYMPY_NUMPY
from .base import Layer, Recorder
from .mistakes import KnownMistake, where
from .windows import col2im, out_size, read_pair, shape_text, windows

__all__ = ["AvgPool2d", "MaxPool2d"]


def _max_numeric(*xs):
    return functools.reduce(np.maximum, xs)


def _is_max_numeric(i, *xs):
    top = _max_numeric(*xs)
    first = xs[int(i)] == top
    for x in xs[:int(i)]:
        first = first & (x != top)
    return first.astype(float) if isinstance(first, np.ndarray) else float(first)


# lambdify evaluates the window max of catalogue.sympy_forms and its derivative with these
SYMPY_NUMPY.update(window_max=_max_numeric, is_window_max=_is_max_numeric)


@dataclass(frozen=True, repr=False)
class _Pool2d(Layer):
    keys: ClassVar[dict] = {"size": ..., "stride": None}
    meanings: ClassVar[dict] = {"a_win": "every kh×kw window of the input (a view)", "z": "the pooled output",
                "da_win": "∂C/∂(each window)"}

    @classmethod
    def build(cls, read, index, in_shape, bias):
        size = read_pair(read, "size")
        stride = size if read.raw.get("stride") is None else read_pair(read, "stride")
        if len(in_shape) != 3:
            raise SpecError(read.path, f"{cls.kind} {index} needs an image input (C, H, W), got a vector of "
                                       f"{in_shape[0]}; pool before flatten", read.source)
        what = f"{cls.kind} {index}"
        (ho, fh), (wo, fw) = (out_size(what, ax, n, k, s, None, read.path, read.source)
                              for ax, n, k, s in zip("HW", in_shape[1:], size, stride))
        x = "x" if index == 0 else "a_prev"
        step = (f"{what}: {x} {shape_text(in_shape)} -> {shape_text((in_shape[0], ho, wo))}, "
                f"{cls.reduction} over {size[0]}x{size[1]} windows")
        return cls(index, tuple(in_shape), (in_shape[0], ho, wo), options={"size": list(size), "stride": list(stride)},
                   formulas=(fh, fw, step))

    @property
    def size(self):
        return tuple(self.options["size"])

    @property
    def stride(self):
        return tuple(self.options["stride"])

    def to_json(self):
        out = super().to_json()
        for key in ("size", "stride"):
            if out[key][0] == out[key][1]:
                out[key] = out[key][0]
        return out

    def describe(self):
        kh, kw = self.size
        stride = self.stride[0] if len(set(self.stride)) == 1 else self.stride
        return (f"{self.kind} {'x'.join(map(str, self.in_shape))} -> {'x'.join(map(str, self.out_shape))}: "
                f"{kh}x{kw} windows, stride {stride}")

    def forward(self, params, a_prev, conv, bias, tape=None):
        """a_prev (..., N, C, H, W) -> z (..., N, C, H', W'): the max or mean of every window."""
        win = self._windows(a_prev, tape)
        z = Recorder(tape, "forward")("z", f"a_win.{self.reduction}(axis=(4, 5))", self._reduce(a_prev, win),
                                      a_win=win)
        return z, (a_prev.shape, win)

    def _reduce(self, a_prev, win):
        """The max or mean of every window: a_win's, taken as kh·kw strided slices of a_prev (one per window
        offset), each row of a window summed first, then the rows. A reduction over the window view's last two
        axes runs an inner loop of kw elements per output, several times slower on a stack of perturbed networks;
        the slices give the max exactly and the mean in the same order of additions."""
        (kh, kw), (sh, sw) = self.size, self.stride
        if np.iscomplexobj(a_prev) or a_prev.dtype == object or kw >= 8:  # NumPy sums 8 or more pairwise
            return getattr(win, self.reduction)(axis=(-2, -1))
        ho, wo = win.shape[-4:-2]
        join = np.add if self.reduction == "mean" else np.maximum
        total = None
        for p in range(kh):
            row = None
            for q in range(kw):
                part = a_prev[..., p:p + sh * (ho - 1) + 1:sh, q:q + sw * (wo - 1) + 1:sw]
                row = part.copy() if row is None else join(row, part, out=row)
            total = row if total is None else join(total, row, out=total)
        return total / (kh * kw) if self.reduction == "mean" else total

    def _windows(self, a_prev, tape):
        (kh, kw), (sh, sw) = self.size, self.stride
        return Recorder(tape, "forward")(
            "a_win", f"sliding_window_view(a_prev, ({kh}, {kw}), axis=(2, 3))[:, :, ::{sh}, ::{sw}]",
            windows(a_prev, self.size, self.stride), a_prev=a_prev)

    def _back(self, da_win, shape, tape):
        stride = self.stride[0] if len(set(self.stride)) == 1 else self.stride
        return Recorder(tape, "backward")("da_prev", f"col2im(da_win, stride={stride})",
                                          col2im(da_win, shape[-2:], self.stride), da_win=da_win)

    def _spread(self, delta, a_prev, scale):
        """δ·scale sent to every element of its window (a mistake of both kinds)."""
        g = np.broadcast_to(delta[..., None, None] * scale, (*delta.shape, *self.size))
        return col2im(g, a_prev.shape[-2:], self.stride)

    def _symbolic_windows(self, a_prev):
        """One sample's windows as lists of its flat ``a_prev`` entries, C order of the output (C, H', W')."""
        x = np.asarray(a_prev, dtype=object).reshape(self.in_shape)
        (kh, kw), (sh, sw) = self.size, self.stride
        return [list(x[c, i * sh:i * sh + kh, j * sw:j * sw + kw].ravel()) for c, i, j in np.ndindex(*self.out_shape)]


def _to_all(ly, own, delta, cache, a_prev, params, conv, bias):
    return {}, ly._spread(delta, a_prev, 1.0)


def _averaged(ly, own, delta, cache, a_prev, params, conv, bias):
    return {}, ly._spread(delta, a_prev, 1.0 / (ly.size[0] * ly.size[1]))


def _not_divided(ly, own, delta, cache, a_prev, params, conv, bias):
    grads, da = own(delta, cache, params)
    return grads, da * (ly.size[0] * ly.size[1])


@dataclass(frozen=True, repr=False)
class MaxPool2d(_Pool2d):
    """Max pooling: ``size`` k or [kh, kw], ``stride`` (default: the size)."""

    kind = "maxpool2d"
    reduction = "max"
    kinked = True
    kink_text = "a max-pool window's maximum"
    pool_fact = "max"
    #: Where the gradient goes, as the derivation report says it.
    fact_text = ("each output is the maximum of its window, and SymPy's derivative is the unit step θ, 1 for the "
                 "window's maximum and 0 for every other element: the whole gradient goes to the element the "
                 "forward pass picked")
    mistakes = (
        KnownMistake("to_all", lambda ls: (
            f"{where(ls)} sends each window's gradient to every element of the window; only the window's "
            "maximum (the element the forward pass picked) gets it, the others get 0"), _to_all),
        KnownMistake("averaged", lambda ls: (
            f"{where(ls)} spreads each window's gradient evenly over the window (δ/(kh·kw), as average pooling "
            "does); in max pooling only the window's maximum gets δ, the others get 0"), _averaged),
    )

    @staticmethod
    def window_form(window):
        """One window's output as SymPy writes it for the derivation report's local fact: Max(x_00, …);
        differentiated, the unit step θ(x_pq − max of the others)."""
        import sympy as sp

        return sp.Max(*window)

    @staticmethod
    def _argmax(win):
        return win.reshape(*win.shape[:-2], -1).argmax(axis=-1)

    def backward(self, delta, cache, params, conv, bias, tape=None):
        rec = Recorder(tape, "backward")
        shape, win = cache
        kh, kw = self.size
        first = self._argmax(win)[..., None] == np.arange(kh * kw)
        mask = rec("mask", "a_win == a_win.max(axis=(4, 5), keepdims=True)  (first maximum only)",
                   first.reshape(win.shape), a_win=win)
        da_win = rec("da_win", "delta[..., None, None] * mask", delta[..., None, None] * mask,
                     **{"delta[..., None, None]": delta[..., None, None]}, mask=mask)
        return {}, self._back(da_win, shape, tape)

    def kink_state(self, a_prev, z, conv, params=None):
        """Which element of each window is the maximum: a step that changes it crosses a kink."""
        return self._argmax(windows(a_prev, self.size, self.stride))

    def on_kink(self, a_prev, z, conv, params=None):
        """Windows whose maximum is tied (two entries or more equal to it): the kink itself."""
        win = windows(a_prev, self.size, self.stride)
        flat = win.reshape(*win.shape[:-2], -1)
        return (flat == flat.max(axis=-1, keepdims=True)).sum(axis=-1) > 1

    def symbolic_z(self, params, a_prev, conv, bias):
        """z[c, i, j] = max(window); its derivative is 1 at the window's first maximum, 0 elsewhere."""
        from ..sympy_forms import window_max

        return [window_max(*w) for w in self._symbolic_windows(a_prev)]


@dataclass(frozen=True, repr=False)
class AvgPool2d(_Pool2d):
    """Average pooling: ``size`` k or [kh, kw], ``stride`` (default: the size)."""

    kind = "avgpool2d"
    reduction = "mean"
    complex_step = True
    pool_fact = "avg"
    mistakes = (
        KnownMistake("not_divided", lambda ls: (
            f"{where(ls)} does not divide the gradient by the window size: each element of a "
            f"{'×'.join(map(str, ls[0].size))} window gets δ/{ls[0].size[0] * ls[0].size[1]}"
            " (the 1/(kh·kw) of the mean)"), _not_divided),
    )

    @staticmethod
    def window_form(window):
        """One window's output as SymPy writes it for the derivation report's local fact: the mean, Σ x_pq/(kh·kw)."""
        import sympy as sp

        return sp.Add(*window) / len(window)

    @property
    def fact_text(self):
        return (f"each output is the mean of its window, so every element gets 1/{self.size[0] * self.size[1]} of "
                "its gradient")

    def backward(self, delta, cache, params, conv, bias, tape=None):
        shape, win = cache
        kh, kw = self.size
        da_win = np.broadcast_to(delta[..., None, None] / (kh * kw), win.shape)
        expr = f"np.broadcast_to(delta[..., None, None] / {kh * kw}, a_win.shape)"
        da_win = Recorder(tape, "backward")("da_win", expr, da_win,
                                            **{"delta[..., None, None]": delta[..., None, None]})
        return {}, self._back(da_win, shape, tape)

    def symbolic_z(self, params, a_prev, conv, bias):
        """z[c, i, j] = Σ window / (kh·kw)."""
        import sympy as sp

        kh, kw = self.size
        return [sp.Rational(1, kh * kw) * sum(w) for w in self._symbolic_windows(a_prev)]

