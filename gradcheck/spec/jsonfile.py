"""net.json text -> its JSON value, refusing what ``json.loads`` would take silently: a key given twice in one
object (the last one would win) and an integer too long for ``int`` (an exception, not a message).

>>> read_json('{"seed": 1, "seed": 2}')
Traceback (most recent call last):
gradcheck.errors.SpecError: seed: duplicate key 'seed': JSON keeps only the last of its values; give each key once
"""

from __future__ import annotations

import json

from ..errors import SpecError

__all__ = ["read_json"]


def read_json(text, source=None):
    """The JSON value of ``text``; a key given twice in one object is refused (JSON would keep the last one
    silently), and an integer too long for ``int`` becomes a number that every validator refuses by name."""
    repeated = {}

    def pairs(items):
        obj = dict(items)
        if len(obj) < len(items):
            seen = set()
            for key, _ in items:
                if key in seen:
                    repeated[id(obj)] = key  # the tree keeps every object alive: ids stay unique
                    break
                seen.add(key)
        return obj

    try:
        raw = json.loads(text, object_pairs_hook=pairs, parse_int=_integer)
    except json.JSONDecodeError as e:
        raise SpecError("", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", source) from None
    except RecursionError:
        raise SpecError("", "JSON nested too deeply to be a network description", source) from None
    if repeated:
        path, key = _first_repeated(raw, repeated)
        raise SpecError(f"{path}.{key}" if path else key, f"duplicate key '{key}': JSON keeps only the last of "
                                                          "its values; give each key once", source)
    return raw


class _LongInteger(float):
    """A JSON integer of more digits than ``int`` reads (4300): infinite as a float, named by its length."""

    def __new__(cls, text):
        self = super().__new__(cls, "-inf" if text.startswith("-") else "inf")
        self.digits = len(text.lstrip("-"))
        return self

    def __repr__(self):
        return f"a {self.digits}-digit number"


def _integer(text):
    try:
        return int(text)
    except ValueError:
        return _LongInteger(text)


def _first_repeated(raw, repeated):
    """(JSON path, key) of the first object, in document order, that gave a key twice."""
    todo = [("", raw)]
    while todo:
        path, value = todo.pop()
        if isinstance(value, dict):
            if id(value) in repeated:
                return path, repeated[id(value)]
            todo.extend((f"{path}.{k}" if path else k, v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            todo.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(value))))
    raise AssertionError("a repeated key was recorded but not found")  # pragma: no cover
