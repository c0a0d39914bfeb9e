"""net.json values checked in place: each validator raises a one-line :class:`SpecError` naming the
JSON path, what was expected and what was given (the kinds of value themselves are checked by
:mod:`gradcheck.validate`).

:class:`KeyReader` hands a layer kind the keys of its JSON object (with the kind's
defaults), so a layer class validates its own keys without knowing the file.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import SpecError, suggest
from ..validate import MAX_SIZE, brief, whole_number
from ..validate import number as parse_number

__all__ = ["KeyReader", "array", "check_keys", "kind", "name", "number", "whole"]

_FLOAT_MAX = int(np.finfo(np.float64).max)


def kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"'{value}' (a string)" if len(value) < 40 else "a string"
    if isinstance(value, (int, float)):
        return brief(value)
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def check_keys(obj, allowed, path, source):
    for key in obj:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise SpecError(where, f"unknown key '{key}'{suggest(key, list(allowed))}; "
                                   f"allowed: {', '.join(allowed)}", source)
    for key, default in allowed.items():
        if default is ... and key not in obj:
            raise SpecError(path or key, f"missing required key '{key}'", source)


def whole(value, path, source, minimum=1, maximum=MAX_SIZE):
    if not isinstance(value, (int, float)):
        raise SpecError(path, f"expected a whole number >= {minimum}, got {kind(value)}", source)
    try:
        return whole_number(value, minimum, maximum)
    except ValueError as e:
        raise SpecError(path, f"{e}, got {kind(value)}", source) from None


def name(value, valid, path, source):
    if not isinstance(value, str):
        raise SpecError(path, f"expected one of {', '.join(valid)}, got {kind(value)}", source)
    if value not in valid:
        raise SpecError(path, f"unknown '{value}'{suggest(value, list(valid))}; "
                              f"expected one of {', '.join(valid)}", source)
    return value


def array(value, path, source):
    """Nested lists of numbers (or a NumPy array, taken as it is) -> float64 array; names the first bad leaf."""
    if isinstance(value, np.ndarray):
        return _ndarray(value, path, source)

    def walk(v, p, depth):
        if isinstance(v, list):
            if not v:
                raise SpecError(p, "expected numbers, got an empty list", source)
            shapes = [walk(item, f"{p}[{i}]", depth + 1) for i, item in enumerate(v)]
            _rectangular(v, shapes, p, source)
            return (len(v), *shapes[0])
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(p, f"expected a number, got {kind(v)}", source)
        if (isinstance(v, int) and abs(v) > _FLOAT_MAX) or not math.isfinite(v):
            raise SpecError(p, f"expected a finite number, got {kind(v)}", source)
        return ()
    walk(value, path, 0)
    return np.asarray(value, dtype=np.float64)


def _rectangular(rows, shapes, path, source):
    """Refuse the list ``rows`` at ``path`` unless its items, of ``shapes``, are alike: a number beside a list
    (or lists nested to other depths) is named where it is; rows of different lengths, by their lengths."""
    first = shapes[0]
    for i, shape in enumerate(shapes):
        if shape == first:
            continue
        if len(shape) != len(first):
            at, there, got = _first_unlike(rows[0], rows[i], f"{path}[{i}]")
            like = f"a list of {len(there)}" if isinstance(there, list) else "a number"
            raise SpecError(at, f"expected {like}, as {at.replace(f'{path}[{i}]', f'{path}[0]', 1)} is, got "
                                f"{kind(got)}: every row of an array holds the same kind of thing", source)
        if shape[0] != first[0]:
            raise SpecError(path, "rows of different lengths: expected a rectangular array (one inner list per row, "
                                  f"all the same length), got lengths {sorted({s[0] for s in shapes})}", source)
        raise SpecError(f"{path}[{i}]", f"rows of different lengths: expected shape {first}, as {path}[0] has, "
                                        f"got {shape}", source)


def _first_unlike(a, b, path):
    """(its path, a's item there, b's item there) of the first place where one of two rows holds a number and the
    other a list; ``path``: b's."""
    if isinstance(a, list) and isinstance(b, list):
        for j, (x, y) in enumerate(zip(a, b)):
            found = _first_unlike(x, y, f"{path}[{j}]")
            if found:
                return found
        return None
    return None if isinstance(a, list) == isinstance(b, list) else (path, a, b)


def _ndarray(value, path, source):
    if value.size == 0:
        raise SpecError(path, "expected numbers, got an empty array", source)
    if value.dtype.kind not in "biuf":
        raise SpecError(path, f"expected an array of real numbers, got dtype {value.dtype}", source)
    arr = np.array(value, dtype=np.float64)  # a copy: the caller's array is never changed
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        idx = tuple(int(i) for i in bad[0])
        raise SpecError(path + "".join(f"[{i}]" for i in idx), f"expected a finite number, got {arr[idx]!r}",
                        source)
    return arr


def number(value, path, source, **limits):
    """A finite JSON number within the limits of :func:`gradcheck.validate.number`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(path, f"expected a number, got {kind(value)}", source)
    try:
        return parse_number(value, **limits)
    except ValueError as e:
        raise SpecError(path, f"{e}, got {brief(value)}", source) from None


class KeyReader:
    """The keys of one JSON object (e.g. a layer) with defaults, read through the validators above.

    ``raw`` is the object, ``keys`` its allowed keys with defaults, ``path`` its JSON
    path (``layers[2]``) and ``source`` the file name.
    """

    def __init__(self, raw, keys, path, source):
        self.raw, self.keys, self.path, self.source = raw, keys, path, source

    def default(self, key):
        return self.keys.get(key)

    def get(self, key):
        return self.raw.get(key, self.default(key))

    def int(self, key, minimum=1, value=..., where=None, maximum=MAX_SIZE):
        """A whole number >= ``minimum`` (``value``/``where``: an item inside the key's value)."""
        return whole(self.get(key) if value is ... else value, f"{self.path}.{where or key}", self.source, minimum,
                     maximum)

    def number(self, key, **limits):
        return number(self.get(key), f"{self.path}.{key}", self.source, **limits)

    def activation(self):
        from ..catalogue import ACTIVATIONS
        return name(self.get("activation"), list(ACTIVATIONS), f"{self.path}.activation", self.source)

    def activation_settings(self, act):
        """The parameters of activation ``act`` (an entry with its defaults) from this object's keys, e.g.
        {"slope": 0.2}; a key that belongs to another activation is refused."""
        from ..catalogue.activations import ACTIVATION_KEYS, ACTIVATIONS
        out = {}
        for key, (lo, hi) in ACTIVATION_KEYS.items():
            given = self.raw.get(key)
            if key not in act.settings:
                if given is not None or key in self.raw:
                    takers = " or ".join(a.name for a in ACTIVATIONS.values() if key in a.settings)
                    raise SpecError(f"{self.path}.{key}", f"activation {act.name} takes no {key} (only {takers} "
                                                          f"does); remove it or change the activation", self.source)
                continue
            out[key] = act.settings[key] if key not in self.raw else number(given, f"{self.path}.{key}", self.source,
                                                                            minimum=lo, maximum=hi)
        return out
