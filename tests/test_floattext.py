"""The fast float text is exactly :func:`json.dumps`'s, number for number and byte for byte."""

from __future__ import annotations

import importlib.util
import io
import json

import numpy as np
import pytest

from gradcheck.render import floattext
from gradcheck.render.floattext import float_rows, python_rows
from gradcheck.render.jsonstream import write_json

SPECIAL = [0.0, -0.0, 1.0, -2.0, 3.0, 2.0 ** 53, 1e15, 9999999999999998.0, 1e16, -1.5e16, 1e22, 1e300, -1e300,
           1.7976931348623157e308, 5e-324, -1e-323, 2.2250738585072014e-308, 1e-300, 1e-10, 1.5e-7, 9.99e-6,
           1e-5, -1.5e-5, 1.2345678901234567e-5, 9.999999999999999e-05, 1e-4, 0.00012, 0.1, 1 / 3, 123456789.125,
           float("nan"), float("inf"), -float("inf")]


ORJSON = importlib.util.find_spec("orjson") is not None


def _dumps_rows(block, sep):
    """What json.dumps writes for each row, NaN and infinities as null."""
    return sep.join(json.dumps([v if np.isfinite(v) else None for v in row]) for row in np.asarray(block,
                                                                                                   float).tolist())


def _difference(got, want):
    """None, or where the two texts part (a short message: a whole text would be megabytes of diff)."""
    if got == want:
        return None
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    return f"at {at}: {got[at - 30:at + 30]!r} but json.dumps writes {want[at - 30:at + 30]!r}"


def _blocks():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2 ** 64, size=(40, 500), dtype=np.uint64).view(np.float64)  # every kind of double
    scaled = rng.normal(size=(40, 500)) * 10.0 ** rng.integers(-9, 18, size=(40, 500))
    return {"special": np.array([SPECIAL, [-v for v in SPECIAL]]), "bits": bits, "scaled": scaled,
            "ints": np.arange(-6, 6).reshape(3, 4), "bools": np.array([[True, False]]),
            "float32": np.array([[0.1, 1e-5, 3e38]], dtype=np.float32), "columns": scaled[:5, :7].T,
            "one": np.array([[1e-5]])}


@pytest.mark.parametrize("name", list(_blocks()))
def test_rows_are_written_as_json_dumps_writes_them(name):
    block = _blocks()[name]
    want = _dumps_rows(block, ",\n  ")
    assert _difference(python_rows(block, ",\n  "), want) is None
    assert _difference(float_rows(block, ",\n  "), want) is None
    if ORJSON:
        assert _difference(floattext._fast_rows(block, ",\n  "), want) is None


@pytest.mark.skipif(not ORJSON, reason="the fast path needs orjson")
def test_the_fast_path_is_used_where_it_agrees():
    assert floattext._fast()


def test_both_of_orjsons_exponent_notations_are_mended_to_pythons():
    # orjson up to 3.9 writes 1e16 and 1.5e-7, later versions 1e+16 (and still 1.5e-7): both must become Python's.
    values = [1.2888517330364963e17, 1e16, 1e300, 1.5e-7, 2.5e-300, -3e-5]
    want = "[" + ", ".join(map(float.__repr__, values)) + "]"
    for raw in (b"[1.2888517330364963e17,1e16,1e300,1.5e-7,2.5e-300,-0.00003]",
                b"[1.2888517330364963e+17,1e+16,1e+300,1.5e-7,2.5e-300,-0.00003]"):
        assert floattext._python_notation(raw).decode().replace(",", ", ") == want, raw


def test_a_fast_path_that_disagrees_is_not_used(monkeypatch):
    monkeypatch.setattr(floattext, "_usable", None)
    monkeypatch.setattr(floattext, "_fast_rows", lambda block, sep: python_rows(block, sep).replace("e-05", "e-5"))
    assert not floattext._fast()
    assert float_rows(np.array([[1.5e-5]]), "") == "[1.5e-05]"


def test_a_fast_path_that_fails_is_not_used(monkeypatch):
    def refuse(block, sep):
        raise TypeError("numpy arrays are not supported")

    monkeypatch.setattr(floattext, "_usable", None)
    monkeypatch.setattr(floattext, "_fast_rows", refuse)
    assert float_rows(np.array([[1e16, np.nan]]), "") == "[1e+16, null]"


def _written(x):
    out = io.StringIO()
    write_json(x, out)
    return out.getvalue()


def test_long_arrays_are_written_in_pieces_that_join_exactly():
    rng = np.random.default_rng(1)
    vector = rng.normal(size=40_000) * 1e-4
    vector[[5, 20_000, 39_999]] = [np.nan, -0.0, np.inf]
    assert _difference(_written(vector), json.dumps([v if np.isfinite(v) else None for v in vector.tolist()])) is None
    matrix = rng.normal(size=(300, 97)) * 1e-4
    assert _difference(_written(matrix), "[\n  " + _dumps_rows(matrix, ",\n  ") + "\n]") is None
    nested = matrix[:24].reshape(2, 3, 4, 97)
    assert json.loads(_written({"a": [nested, {"b": nested[0]}]})) == {"a": [nested.tolist(),
                                                                            {"b": nested[0].tolist()}]}
