"""Inverted dropout with a fixed mask: z = a_prev · mask, each mask entry 0 or 1/(1 − p).

The mask is drawn once (from the layer's ``seed``, default the network's) and held
fixed for the whole check, so the network stays a deterministic function; it can also
be given as ``params[i] = {"mask": ...}``, shaped like the layer's input batch. It is
not a parameter: no gradient is expected for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError
from ...validate import MAX_SEED
from .base import Layer, Recorder
from .mistakes import KnownMistake, where

__all__ = ["Dropout"]


def _no_mask(ly, own, delta, cache, a_prev, params, conv, bias):
    return {}, delta.copy()


def _no_rescale(ly, own, delta, cache, a_prev, params, conv, bias):
    return {}, delta * (np.asarray(params["mask"]) != 0)


@dataclass(frozen=True, repr=False)
class Dropout(Layer):
    """Inverted dropout with drop probability ``p`` and a mask fixed from ``seed``."""

    symbolic_dense = True

    kind = "dropout"
    complex_step = True
    keys: ClassVar[dict] = {"p": ..., "seed": None}
    per_sample = False  # the mask is tied to each sample's place in the batch
    meanings: ClassVar[dict] = {"mask": "fixed mask: 0 (dropped) or 1/(1 − p) (kept)", "z": "z = a_prev * mask"}
    mistakes = (
        KnownMistake("no_mask", lambda ls: (
            f"{where(ls)}: the mask is not applied in the backward pass (dx = δ); the dropped units pass no "
            "gradient: dx = δ·mask"), _no_mask),
        KnownMistake("no_rescale", lambda ls: (
            f"{where(ls)} applies the mask without the rescale (dx = δ·[mask ≠ 0]); inverted dropout multiplies "
            f"the kept units by 1/(1 − p) = {1 / (1 - ls[0].p):g} in the forward pass, so dx = δ·mask"),
            _no_rescale),
    )

    @classmethod
    def build(cls, read, index, in_shape, bias):
        p = read.number("p", minimum=0.0, maximum=1.0, strict_max=True)
        seed = None if read.raw.get("seed") is None else read.int("seed", minimum=0, maximum=MAX_SEED)
        return cls(index, tuple(in_shape), tuple(in_shape), options={"p": p, "seed": seed})

    @property
    def p(self):
        return self.options["p"]

    def to_json(self):
        out = super().to_json()
        if out["seed"] is None:
            del out["seed"]
        return out

    def describe(self):
        return f"dropout p={self.p:g} on {'x'.join(map(str, self.in_shape))}"

    def buffer_shapes(self, conv, n):
        return {"mask": conv.batch_of(self.in_shape, n)}

    def buffers(self, seed, conv, n):
        """The mask drawn from ``seed`` (the layer's own seed wins): kept with probability 1 − p."""
        seed = seed if self.options["seed"] is None else self.options["seed"]
        rng = np.random.default_rng([seed, 2, self.index])
        keep = rng.random(self.buffer_shapes(conv, n)["mask"]) >= self.p
        return {"mask": keep / (1.0 - self.p)}

    def check_buffer(self, key, arr, path, source):
        """A given mask must hold only 0 and 1/(1 − p)."""
        scale = 1.0 / (1.0 - self.p)
        bad = ~(np.isclose(arr, 0.0, atol=1e-12) | np.isclose(arr, scale, rtol=1e-9))
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise SpecError(f"{path}{list(first)}", f"a dropout mask holds 0 (dropped) or 1/(1 − p) = {scale:g} "
                                                    f"(kept, inverted dropout), got {arr[first]:g}", source)

    def forward(self, params, a_prev, conv, bias, tape=None):
        mask = params["mask"]
        return Recorder(tape, "forward")("z", "a_prev * mask", a_prev * mask, a_prev=a_prev, mask=mask), None

    def backward(self, delta, cache, params, conv, bias, tape=None):
        mask = params["mask"]
        return {}, Recorder(tape, "backward")("da_prev", "delta * mask", delta * mask, delta=delta, mask=mask)

    def symbolic_z(self, params, a_prev, conv, bias):
        """z_k = a_prev_k·m_k with one sample's mask symbols ``params["mask"]`` (data, like x: no gradient)."""
        return [a * m for a, m in zip(a_prev, np.ravel(params["mask"]))]

