"""The streamed JSON has exactly the content of the document built as Python lists."""

from __future__ import annotations

import io
import json

import numpy as np

from gradcheck import check_network
from gradcheck.render.jsondoc import result_json
from gradcheck.render.jsonstream import write_json
from gradcheck.render.precision import json_number


def _streamed(doc):
    out = io.StringIO()
    write_json(doc, out)
    return json.loads(out.getvalue())


def test_arrays_of_every_shape_and_non_finite_numbers_round_trip():
    rng = np.random.default_rng(0)
    doc = {"scalar": np.float64(2.5), "long": rng.normal(size=10_000), "image": rng.normal(size=(2, 3, 4, 5)),
           "ints": np.arange(6).reshape(2, 3), "bad": np.array([1.0, np.nan, np.inf, -np.inf]),
           "empty": np.zeros((0, 3)), "nested": [{"a": np.ones(2)}, None, "text", 3], "nan": float("nan")}
    assert _streamed(doc) == json_number(doc)
    assert _streamed(doc)["long"] == doc["long"].tolist()  # every digit of every float


def test_a_check_document_streams_to_the_same_content():
    result = check_network({"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"units": 2}], "batch": 5},
                           symbolic="off")
    doc = result_json(result)
    assert any(isinstance(v, np.ndarray) for p in doc["parameters"] for v in p.values())  # arrays are kept
    assert _streamed(doc) == json.loads(json.dumps(json_number(doc)))
