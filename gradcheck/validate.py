"""One validator per kind of value a user hands gradcheck.

A command-line flag, an ini key, a marker keyword, a net.json field or a strategy argument:
each kind of value is checked by one function here, which returns the value converted or
raises ``ValueError("expected …")`` for the caller to place (a JSON path, an option name).

>>> number("1e-5", positive=True)
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


def number(value, positive=False):
    """A finite float ``>= 0`` (``> 0`` with ``positive``); strings are parsed; booleans are refused."""
    expected = "a positive number such as 1e-5" if positive else "a number >= 0 such as 1e-7"
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected {expected}") from None
    if isinstance(value, bool) or not math.isfinite(x) or x < 0 or (positive and x == 0):
        raise ValueError(f"expected {expected}")
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
