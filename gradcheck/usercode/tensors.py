"""CPU torch tensors as inputs, without depending on torch: recognised by their type's module, converted only when
torch is already imported (the user passed one).

The user's code is called with tensors where tensors were given; what it returns is turned
back into NumPy arrays before anything is compared.
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["is_tensor", "is_float", "to_numpy", "like", "torch_or_none"]


def torch_or_none():
    """The torch module if the user's code has imported it, else None (gradcheck never imports it first)."""
    return sys.modules.get("torch")


def is_tensor(value):
    torch = torch_or_none()
    return torch is not None and isinstance(value, torch.Tensor)


def is_float(value):
    return value.dtype.is_floating_point


def to_numpy(value):
    """A tensor as a NumPy array (detached, on the CPU); anything else as it is."""
    if is_tensor(value):
        if value.device.type != "cpu":
            raise TypeError(f"a torch tensor on {value.device}; gradcheck takes CPU tensors (call .cpu())")
        return value.detach().numpy().copy()
    if isinstance(value, (tuple, list)) and any(is_tensor(v) for v in value):
        return type(value)(to_numpy(v) for v in value)
    if isinstance(value, dict) and any(is_tensor(v) for v in value.values()):
        return {k: to_numpy(v) for k, v in value.items()}
    return value


def like(arr, given):
    """``arr`` (float64) as a tensor of ``given``'s dtype when ``given`` is a tensor."""
    if not is_tensor(given):
        return arr
    torch = torch_or_none()
    return torch.from_numpy(np.array(arr, dtype=np.float64)).to(given.dtype)
