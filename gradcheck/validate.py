"""One validator per kind of value a user hands gradcheck.

A command-line flag, an ini key, a marker keyword, a net.json field or a strategy argument:
each kind of value is checked by one function here, which returns the value converted or
raises ``ValueError("expected …")`` for the caller to place (a JSON path, an option name).

>>> number("1e-5", minimum=0, strict=True)
1e-05
>>> whole_number(2.0)
2
>>> one_of("centrl", ("central", "five-point"))
Traceback (most recent call last):
ValueError: expected one of central, five-point (did you mean 'central'?)
"""

from __future__ import annotations

import math

from .errors import suggest

__all__ = ["number", "whole_number", "one_of"]


def number(value, minimum=None, maximum=None, strict=False, strict_max=False, example=None):
    """A finite float within [minimum, maximum] (``strict``: above the minimum, ``strict_max``: below the
    maximum); strings are parsed; booleans are refused. ``example`` completes the message ("such as 1e-5").

    >>> number("2.5", minimum=0, maximum=1)
    Traceback (most recent call last):
    ValueError: expected a number >= 0 and <= 1
    """
    lo = "" if minimum is None else f"{'>' if strict else '>='} {minimum:g}"
    hi = "" if maximum is None else f"{'<' if strict_max else '<='} {maximum:g}"
    expected = " ".join(["expected a number", " and ".join(x for x in (lo, hi) if x)]).rstrip()
    expected += f" such as {example}" if example else ""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(expected) from None
    if isinstance(value, bool) or not math.isfinite(x):
        raise ValueError(expected)
    if (minimum is not None and (x <= minimum if strict else x < minimum)) or \
            (maximum is not None and (x >= maximum if strict_max else x > maximum)):
        raise ValueError(expected)
    return x


def whole_number(value, minimum=0):
    """An int ``>= minimum`` from an int, a whole float or a string of digits; booleans are refused."""
    expected = f"expected a whole number >= {minimum}"
    if isinstance(value, bool) or value is None:
        raise ValueError(expected)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(expected)
        value = int(value)
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(expected) from None
    if n < minimum:
        raise ValueError(expected)
    return n


def one_of(value, choices):
    """``value`` if it is one of ``choices``; the error suggests the closest."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}{suggest(value, list(choices))}")
    return value
