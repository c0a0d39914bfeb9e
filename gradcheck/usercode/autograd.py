"""torch autograd as an exact opinion, where the user's code is written in torch ops and tensors were given.

The user's function is called once more with leaf tensors that require a gradient;
``torch.autograd.grad`` of the same scalar the finite differences differentiate (``f``, or
``Σ_k sum(out_k · dout_k)`` for a layer) is the opinion. Code that leaves torch (``.numpy()``,
NumPy ops on tensors) has no graph: the opinion is then skipped, with a note saying why.
"""

from __future__ import annotations

import numpy as np

from . import tensors
from .signature import split_outputs

__all__ = ["function_vjp", "layer_vjp"]


def _leaves(arrays, given):
    torch = tensors.torch_or_none()
    return [torch.tensor(np.asarray(a), dtype=g.dtype if tensors.is_tensor(g) else torch.float64,
                         requires_grad=True) for a, g in zip(arrays, given)]


def _grad(total, leaves):
    """(list of float64 arrays, None) or (None, why)."""
    torch = tensors.torch_or_none()
    if not tensors.is_tensor(total) or not total.requires_grad:
        return None, ("torch autograd was skipped: the result does not depend on the input tensors through torch "
                      "ops (the code leaves torch, e.g. with .numpy() or NumPy functions)")
    grads = torch.autograd.grad(total, leaves, allow_unused=True)
    return [np.zeros(tuple(leaf.shape)) if g is None else g.detach().double().numpy() for g, leaf in
            zip(grads, leaves)], None


def function_vjp(f, arrays, given, rebuild, both):
    """autograd's gradient of ``f`` (or of f's loss for ``both``) at ``arrays``: (arrays, None) or (None, why)."""
    try:
        leaves = _leaves(arrays, given)
        value = f(rebuild(leaves))
        return _grad(value[0] if both and isinstance(value, tuple) else value, leaves)
    except Exception as e:  # the opinion is optional: a failure here is a note, never the check's end
        return None, f"torch autograd was skipped: {type(e).__name__}: {e}"


def layer_vjp(forward, sig, douts):
    """autograd's vector-Jacobian product of a layer's forward with ``douts``: (arrays, None) or (None, why)."""
    torch = tensors.torch_or_none()
    try:
        leaves = _leaves(sig.arrays, [v for v, d in zip(sig.inputs, sig.differentiated) if d])
        it = iter(leaves)
        outs, _ = split_outputs(forward(*[next(it) if d else v for v, d in zip(sig.inputs, sig.differentiated)]))
        if not all(tensors.is_tensor(o) for o in outs):
            return None, "torch autograd was skipped: forward does not return tensors"
        total = sum((o.to(torch.float64) * torch.from_numpy(d)).sum() for o, d in zip(outs, douts))
        return _grad(total, leaves)
    except Exception as e:
        return None, f"torch autograd was skipped: {type(e).__name__}: {e}"
