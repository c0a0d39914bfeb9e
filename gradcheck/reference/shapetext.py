"""How a shape is written in a trace, a table or a message: ``(3,N)``, the batch's size as N."""

from __future__ import annotations

__all__ = ["fmt_shape"]


def fmt_shape(shape):
    """``(3, 'N')`` -> ``"(3,N)"``; ``(3,)`` -> ``"(3,)"``.

    >>> fmt_shape((3, "N")), fmt_shape((3,)), fmt_shape(())
    ('(3,N)', '(3,)', '()')
    """
    parts = [str(d) for d in shape]
    return "(" + ",".join(parts) + ("," if len(parts) == 1 else "") + ")"
