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

__all__ = ["MAX_SEED", "MAX_SIZE", "brief", "number", "whole_number", "one_of"]

#: The largest seed: NumPy's generators take 64-bit words, and a longer number seeds nothing better.
MAX_SEED = 2**64 - 1
#: The largest size (units, filters, a kernel, a stride, a batch, ...): NumPy's largest index. Far larger sizes
#: than fit in memory pass here, and are refused by the memory check, which names the key to shrink.
MAX_SIZE = 2**63 - 1


def brief(value):
    """``repr(value)``, shortened to its start and length when it is too long to quote in a one-line message.

    >>> brief("9" * 5000), brief(10**80)
    ("'9999999999'… (5000 characters)", 'a 81-digit number')
    """
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            digits = len(str(abs(value)))
        except ValueError:  # str() refuses ints of more than 4300 digits
            return f"a number of about {math.floor(value.bit_length() * math.log10(2)) + 1} digits"
        if digits > 60:
            return f"a {digits}-digit number"
    text = repr(value)
    if len(text) <= 60:
        return text
    return f"{value[:10]!r}… ({len(value)} characters)" if isinstance(value, str) else f"{text[:12]}…"


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
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond any float
        raise ValueError(expected) from None
    if isinstance(value, bool) or not math.isfinite(x):
        raise ValueError(expected)
    if (minimum is not None and (x <= minimum if strict else x < minimum)) or \
            (maximum is not None and (x >= maximum if strict_max else x > maximum)):
        raise ValueError(expected)
    return x


def whole_number(value, minimum=0, maximum=None):
    """An int ``>= minimum`` (and ``<= maximum``) from an int, a whole float or a string of digits; booleans are
    refused.

    >>> whole_number("1" + "0" * 40, maximum=MAX_SEED)
    Traceback (most recent call last):
    ValueError: expected a whole number >= 0 and <= 18446744073709551615
    """
    expected = f"expected a whole number >= {minimum}"
    too_large = f"{expected} and <= {maximum}"  # the upper end is named where it is the one crossed
    if isinstance(value, bool) or value is None:
        raise ValueError(expected)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(too_large if maximum is not None and value == math.inf else expected)
        value = int(value)
    if maximum is not None and isinstance(value, str) and len(value.strip().lstrip("+-0")) > len(str(maximum)):
        raise ValueError(too_large if value.strip().lstrip("+").isdigit() else expected)
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(expected) from None
    if n < minimum:
        raise ValueError(expected)
    if maximum is not None and n > maximum:
        raise ValueError(too_large)
    return n


def one_of(value, choices):
    """``value`` if it is one of ``choices``; the error suggests the closest."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}{suggest(value, list(choices))}")
    return value
