"""Strategies made once per set of arguments.

Making a hypothesis strategy costs about as much as drawing from it (its arguments checked, its parts wrapped),
and a composite that makes one inside its draws pays that for every example: ``specs(...)`` drawn within another
strategy's composite, say. Strategies are immutable, so :func:`made_once` keeps each one its maker returns and
hands the same one back for the same arguments.
"""

from __future__ import annotations

import functools

__all__ = ["made_once"]

#: Strategies kept per maker, at most: a test suite asks for a few dozen distinct ones.
KEPT = 256


def _frozen(value):
    """``value`` with its lists and tuples as tuples, all the way down (so that it can be a key)."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def made_once(make):
    """``make`` (a function returning a strategy), keeping what it returns per set of arguments (lists count as
    the tuples of their items). Arguments that cannot be a key (a dict) make a new strategy each time; a maker that
    raises (a bad argument) raises again the next time."""
    kept = {}

    @functools.wraps(make)
    def strategy(*args, **kwargs):
        key = (_frozen(args), _frozen(sorted(kwargs.items())))
        try:
            return kept[key]
        except KeyError:
            pass
        except TypeError:  # unhashable: nothing to keep
            return make(*args, **kwargs)
        out = make(*args, **kwargs)
        if len(kept) < KEPT:
            kept[key] = out
        return out

    return strategy
