"""A whole tensor of a function or layer check that is wrong as a whole: transposed, a kernel flipped, a constant
factor. The numeric gradient stands in for the reference (with its per-element steps it is typically good to
1e-10, far below the closeness rule's 1e-7); :func:`~gradcheck.diagnose.mistake.close` says a reading of the user's
gradient is it."""

from __future__ import annotations

import numpy as np

from .factors import same
from .mistake import close

__all__ = ["diagnose_tensor", "kernel_flip_hint", "proportional_terms"]


def diagnose_tensor(t, alone=False):
    """One sentence for a tensor whose values are wrong as a whole (transposed, a constant factor), or "".
    ``alone``: it is the check's only tensor (a loss of one array, such as CS231n's scores), whose first axis may be
    read as the batch."""
    a, n = t.values["analytic"], t.values["numeric"]
    if t.passed or t.problem or a is None or np.shape(a) != np.shape(n) or not np.all(np.isfinite(n)):
        return ""
    if a.ndim == 2 and a.shape[0] == a.shape[1] and close(a.T, n) and not close(a, n):
        return f"{t.name}: your gradient is the transpose of the numeric one (return .T, or swap the factors " \
               "of the matrix product)"
    flipped = kernel_flip_hint(t.name, a, n)
    if flipped:
        return flipped
    scale = float(np.max(np.abs(n), initial=0.0))  # the factor at that scale: gradients near 1e308 overflow
    if scale > 0:
        c = float(np.vdot(a / scale, n / scale)) / float(np.linalg.norm(n / scale)) ** 2
        if np.isfinite(c) and not same(c, 1.0) and close(a, c * n):
            what = ("the sign is flipped (minus the gradient)" if same(c, -1.0)
                    else f"every element is {c:.6g} × the true value")
            batch = _batch_reading(t, c) if alone else ""
            return f"{t.name}: {what}: a constant factor, not a local mistake{batch}"
    return ""


def _batch_reading(t, c):
    """"; 4 is the length of x's first axis …" where the factor (or its inverse) is the tensor's batch axis N."""
    n = t.shape[0] if len(t.shape) >= 2 and t.shape[0] > 1 else None
    if n is None:
        return ""
    if same(c, float(n)):
        return (f"; {n} is the length of {t.name}'s first axis: if that is the batch size N, a division by N is "
                "missing (a sum where the loss takes the mean)")
    if same(c, 1.0 / n):
        return (f"; 1/{n} and {n} is the length of {t.name}'s first axis: if that is the batch size N, the "
                "gradient is divided by N once too often")
    return ""


def kernel_flip_hint(name, analytic, numeric):
    """For a layer check (no network known): a 4-D gradient that is the numeric one with every kernel rotated by
    180° is a flipped kernel; returns a sentence or ""."""
    if np.ndim(analytic) != 4 or np.shape(analytic)[-2:] == (1, 1) or close(analytic, numeric):
        return ""
    if not close(np.asarray(analytic)[..., ::-1, ::-1], numeric):
        return ""
    return (f"{name}: your gradient is the numeric one with every kernel rotated by 180° ([..., ::-1, ::-1]): a "
            "true convolution where the forward pass computes a cross-correlation; pair each input window with "
            "δ without flipping")


def proportional_terms(tensors, points):
    """Sentences for failing tensors whose error is a multiple of the point itself (``grad − numeric = c·W``): a
    term such as an L2 penalty's λW in the gradient that the function's value does not have, or the reverse."""
    out = []
    for t in tensors:
        a, n, w = t.values.get("analytic"), t.values.get("numeric"), points.get(t.name)
        if t.passed or t.problem or a is None or w is None or np.shape(a) != np.shape(w) or np.shape(n) != np.shape(w):
            continue
        if not np.all(np.isfinite(n)) or w.size < 2 or float(np.vdot(w, w)) == 0.0:
            continue
        r = np.asarray(a, dtype=float) - n
        c = float(np.vdot(r, w)) / float(np.vdot(w, w))
        k = float(np.vdot(a, n)) / max(float(np.vdot(n, n)), 1e-300)
        if c != 0.0 and not close(a, n) and close(a, n + c * w) and not close(a, k * n):  # not a constant factor
            out.append(f"{t.name}: your gradient minus the numeric one is {c:.4g}·{t.name}: a term proportional to "
                       f"{t.name} that the function's value does not match (an L2 penalty λ‖{t.name}‖² whose "
                       "gradient is there but whose value is not, or the other way round, or another λ)")
    return out
