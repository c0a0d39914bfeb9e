"""Conventions: where samples and units go in a batch.

=========== ================= ================ ===============
convention  a batch of vectors W of a dense layer image batches
=========== ================= ================ ===============
column      (features, N)     (units, fan_in)  (N, C, H, W)
row         (N, features)     (fan_in, units)  (N, C, H, W)
=========== ================= ================ ===============

Sequences are (N, T, D) and token ids (N, T) in both conventions, as images are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CONVENTIONS", "Convention"]


@dataclass(frozen=True)
class Convention:
    """Where samples and units go. ``unit_axis``/``sample_axis`` index batched arrays.

    What other modules print or decide about a convention is a field here, never a test of its name:
    ``other`` (the other convention's name), ``samples`` (where they go, in words), ``dense_z`` (a dense
    layer's z as NumPy), ``weight_layout`` (W's axes), ``bias_line`` (the line of W that holds an
    augmented bias: "column" or "row"), ``weight_entry`` (which entry of W is unit j's weight on input k)
    and ``next_weight`` (the indices of w^(l+1) that carry δ from unit i back to unit j).
    """

    name: str
    unit_axis: int
    sample_axis: int
    other: str
    samples: str
    dense_z: str
    weight_layout: str
    bias_line: str
    weight_entry: str
    next_weight: str

    @property
    def samples_are_columns(self):
        """True when a batch of vectors is (features, N): one sample per column."""
        return self.sample_axis == -1

    @property
    def described(self):
        """``column: samples are columns, z = W @ a_prev + b, W is (units, fan_in)``."""
        return f"{self.name}: {self.samples}, {self.dense_z}, W is {self.weight_layout}"

    def batch(self, features, n):
        """Shape of a batch of ``n`` vectors with ``features`` entries each."""
        return (features, n) if self.samples_are_columns else (n, features)

    def batch_of(self, shape, n):
        """Shape of a batch of ``n`` samples of per-sample ``shape``: (features,), a sequence (T, D), an image
        (C, H, W) or token ids (T,) (:class:`~gradcheck.catalogue.layers.base.Tokens`: (N, T) in both conventions)."""
        return self.batch(shape[0], n) if len(shape) == 1 and not hasattr(shape, "vocab") else (n, *shape)

    def weight(self, units, fan_in):
        """Shape of W for a layer ``fan_in -> units``."""
        return (units, fan_in) if self.samples_are_columns else (fan_in, units)

    def from_samples(self, rows):
        """(N, features) sample-major array -> this convention's batch layout; images (N, C, H, W) stay."""
        return np.ascontiguousarray(rows.T) if self.samples_are_columns and rows.ndim == 2 else rows

    def to_samples(self, batch):
        """This convention's batch layout -> (N, features); images (N, C, H, W) stay."""
        return batch.T if self.samples_are_columns and batch.ndim == 2 else batch

    def fold(self, stack):
        """(P, features, N) / (P, N, features) / (P, N, T, D) / (P, N, C, H, W) -> one batch of P·N samples,
        stack-major."""
        p = stack.shape[0]
        if stack.ndim >= 4:
            return stack.reshape(p * stack.shape[1], *stack.shape[2:])
        if self.samples_are_columns:
            return stack.transpose(1, 0, 2).reshape(stack.shape[1], p * stack.shape[2])
        return stack.reshape(p * stack.shape[1], stack.shape[2])

    def unfold(self, batch, p):
        """Inverse of :meth:`fold` for a stack of ``p`` networks."""
        if batch.ndim >= 3:
            return batch.reshape(p, -1, *batch.shape[1:])
        if self.samples_are_columns:
            return batch.reshape(batch.shape[0], p, -1).transpose(1, 0, 2)
        return batch.reshape(p, -1, batch.shape[1])


CONVENTIONS = {c.name: c for c in (
    Convention("column", -2, -1, "row", "samples are columns", "z = W @ a_prev + b", "(units, fan_in)", "column",
               "W[j, k]", "ij"),
    Convention("row", -1, -2, "column", "samples are rows", "z = a_prev @ W + b", "(fan_in, units)", "row",
               "W[k, j]", "ji"),
)}
