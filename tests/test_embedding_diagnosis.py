"""The dense layers' site mistakes are not tried on other kinds with a 2-D W: an embedding's square table is not a
dense layer's W, and its input is token ids (a replay that swapped them for floats used to crash the diagnosis)."""

from __future__ import annotations

from gradcheck import check_network, load_spec
from gradcheck.diagnose.mistakes import candidates
from gradcheck.reference.backprop import backprop

SPEC = {"input": {"steps": 2, "vocab": 3}, "convention": "row", "loss": "mse", "batch": 4, "seed": 3,
        "layers": [{"type": "embedding", "dim": 3}, {"type": "flatten"}, {"units": 2, "activation": "tanh"}]}


def test_no_dense_site_mistake_is_a_candidate_for_an_embedding():
    spec = load_spec(SPEC)
    keys = {m.key for site in ("input", "grads") for m in candidates(spec, 0, site)}
    assert not keys & {"output_not_input", "dw_transposed"}


def test_a_wrong_table_gradient_is_caught_and_the_diagnosis_does_not_crash():
    spec = load_spec(SPEC)

    def impl(params, X, Y):
        _, grads = backprop(spec, params, X, Y)
        grads[0]["W"] = grads[0]["W"].copy()
        grads[0]["W"][-1, -1] += 0.3 * (abs(grads[0]["W"][-1, -1]) + 1e-2)
        return grads

    result = check_network(spec, impl, symbolic="off")
    assert not result.passed
    assert result.tensor("W0").verdict("impl")[-1, -1] == "wrong"
