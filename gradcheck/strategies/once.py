"""Strategies made once per set of arguments.

Making a hypothesis strategy costs about as much as drawing from it (its arguments checked, its parts wrapped),
and a composite that makes one inside its draws pays that for every example: ``specs(...)`` drawn within another
strategy's composite, say. Strategies are immutable, so :func:`made_once` keeps each one its maker returns and
hands the same one back for the same arguments.
"""

from __future__ import annotations

import functools

from hypothesis import strategies as st

__all__ = ["booleans", "floats", "integers", "made_once", "sampled_from"]

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


#: Hypothesis's own makers, kept per set of arguments: for composites that draw from ranges known only as they
#: draw (an index below a drawn size), where a strategy cannot be made beforehand.
booleans, floats, integers, sampled_from = (made_once(make) for make in (st.booleans, st.floats, st.integers,
                                                                         st.sampled_from))
