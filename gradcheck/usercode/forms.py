"""Two forms of what a user's backprop returns, read before its gradients are: the dict with its own
intermediates, and a vector parameter's gradient as a (1, n) row or (n, 1) column."""

from __future__ import annotations

import numpy as np

__all__ = ["INTERMEDIATES", "unpack", "flatten_vectors"]


#: The keys of the dict form of what a backprop returns.
INTERMEDIATES = ("delta", "a", "loss")


def unpack(out, extras, notes):
    """(the gradients, None) of ``{"grads": ..., "delta": ..., "a": ..., "loss": ...}`` (its intermediates in
    ``extras``), or of anything else as it is; (None, why) for such a dict without "grads"."""
    if not (isinstance(out, dict) and ("grads" in out or set(out) & set(INTERMEDIATES))):
        return out, None
    if "grads" not in out:
        return None, ("your backprop returned a dict of " + ", ".join(map(repr, out)) + " without 'grads'; expected "
                      "{'grads': [...], 'delta': [...], 'a': [...], 'loss': C} (only 'grads' required)")
    stray = [k for k in out if k not in ("grads", *INTERMEDIATES)]
    if stray:
        notes.append("your backprop's dict has key(s) " + ", ".join(map(repr, stray)) + " that are not compared "
                     "(known: 'grads', 'delta', 'a', 'loss')")
    extras["intermediates"] = {k: out[k] for k in INTERMEDIATES if out.get(k) is not None}
    return out["grads"], None


def flatten_vectors(g, p, i, notes, reshaped):
    """A (1, n) or (n, 1) gradient of a vector parameter (n,) read as (n,), with a note."""
    for kind, value in g.items():
        want = p[kind].shape
        if value is None or len(want) != 1 or np.shape(value) not in {(1, want[0]), (want[0], 1)}:
            continue
        reshaped[f"{kind}{i}"] = np.shape(value)
        g[kind] = np.reshape(value, want)
        notes.append(f"layer {i}: d{kind} returned as {np.shape(value)}; compared as {want}")
