"""Conventions: where samples and units go in a batch, and the bias styles.

=========== ================= ================ ===============
convention  a batch of vectors W of a dense layer image batches
=========== ================= ================ ===============
column      (features, N)     (units, fan_in)  (N, C, H, W)
row         (N, features)     (fan_in, units)  (N, C, H, W)
=========== ================= ================ ===============
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BIAS_STYLES", "CONVENTIONS", "Convention"]

BIAS_STYLES = ("separate", "none", "augmented")


@dataclass(frozen=True)
class Convention:
    """Where samples and units go. ``unit_axis``/``sample_axis`` index batched arrays."""

    name: str
    unit_axis: int
    sample_axis: int

    def batch(self, features, n):
        """Shape of a batch of ``n`` vectors with ``features`` entries each."""
        return (features, n) if self.name == "column" else (n, features)

    def batch_of(self, shape, n):
        """Shape of a batch of ``n`` samples of per-sample ``shape``: (features,) or an image (C, H, W)."""
        return self.batch(shape[0], n) if len(shape) == 1 else (n, *shape)

    def weight(self, units, fan_in):
        """Shape of W for a layer ``fan_in -> units``."""
        return (units, fan_in) if self.name == "column" else (fan_in, units)

    def from_samples(self, rows):
        """(N, features) sample-major array -> this convention's batch layout; images (N, C, H, W) stay."""
        return np.ascontiguousarray(rows.T) if self.name == "column" and rows.ndim == 2 else rows

    def to_samples(self, batch):
        """This convention's batch layout -> (N, features); images (N, C, H, W) stay."""
        return batch.T if self.name == "column" and batch.ndim == 2 else batch

    def fold(self, stack):
        """(P, features, N) / (P, N, features) / (P, N, C, H, W) -> one batch of P·N samples, stack-major."""
        p = stack.shape[0]
        if stack.ndim == 5:
            return stack.reshape(p * stack.shape[1], *stack.shape[2:])
        if self.name == "column":
            return stack.transpose(1, 0, 2).reshape(stack.shape[1], p * stack.shape[2])
        return stack.reshape(p * stack.shape[1], stack.shape[2])

    def unfold(self, batch, p):
        """Inverse of :meth:`fold` for a stack of ``p`` networks."""
        if batch.ndim == 4:
            return batch.reshape(p, -1, *batch.shape[1:])
        if self.name == "column":
            return batch.reshape(batch.shape[0], p, -1).transpose(1, 0, 2)
        return batch.reshape(p, -1, batch.shape[1])


CONVENTIONS = {c.name: c for c in (Convention("column", -2, -1), Convention("row", -1, -2))}
