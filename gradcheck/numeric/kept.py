"""Results of pure functions of shapes and seeds, made once and shared read-only.

A property test checks hundreds of small networks of a few shapes: what depends on the shapes and a seed alone
(the noise lines' ±1 directions, where each element of a dense layer moves its z) is made once per shape there,
and every caller gets the same arrays, made read-only so that none can change them for the others. The callers
keep only small ones: a large network's cost little beside the passes that use them, and would hold memory.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["read_only_cache"]


def read_only_cache(maxsize):
    """Decorator: ``functools.lru_cache(maxsize)`` of a function of hashable arguments whose result (arrays, in
    tuples, lists and dicts) is made read-only before it is kept."""

    def wrap(fn):
        @functools.lru_cache(maxsize=maxsize)
        @functools.wraps(fn)
        def kept(*args):
            return _frozen(fn(*args))

        return kept

    return wrap


def _frozen(out):
    if isinstance(out, np.ndarray):
        out.setflags(write=False)
    elif isinstance(out, dict):
        for v in out.values():
            _frozen(v)
    elif isinstance(out, (tuple, list)):
        for v in out:
            _frozen(v)
    return out
