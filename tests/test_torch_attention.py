"""Opt-in: the attention kind's reference backprop against PyTorch autograd through
``torch.nn.functional.multi_head_attention_forward``, an outside oracle.

Runs only where torch is installed (``pip install torch==2.13.0``); gradcheck never depends on it.
torch's in-projection is (3D, D) applied as x @ Wᵀ (the column convention's layout), its heads
are the same blocks of D/h features, and a boolean ``attn_mask`` is True where a key is hidden.
"""

import pytest
from oracles import loss_value
from torch_autograd import assert_backprop_matches

from gradcheck import load_spec

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_loss(spec, params, X, Y):
    """C of attention -> flatten -> dense softmax, computed by torch (X (N, T, D), Y (N, K) sample-major)."""
    row = spec.convention == "row"
    att, _, dense = params
    ly = spec.layers[0]
    steps, width = ly.in_shape

    def out_in(W):
        return W.T if row else W

    x = torch.tensor(X).transpose(0, 1)  # (T, N, D)
    mask = torch.triu(torch.ones(steps, steps, dtype=torch.bool), diagonal=1) if ly.causal else None
    z, _ = F.multi_head_attention_forward(
        x, x, x, width, ly.heads, torch.cat([out_in(att["Wq"]), out_in(att["Wk"]), out_in(att["Wv"])]),
        torch.cat([att["bq"], att["bk"], att["bv"]]), None, None, False, 0.0, out_in(att["Wo"]), att["bo"],
        training=False, need_weights=False, attn_mask=mask)
    flat = z.transpose(0, 1).reshape(X.shape[0], -1)
    logits = flat @ (dense["W"] if row else dense["W"].T) + dense["b"]
    return loss_value("cross_entropy", torch.softmax(logits, dim=1), torch.tensor(Y if row else Y.T), log=torch.log)


@pytest.mark.parametrize("convention", ["column", "row"])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_torch_autograd(convention, causal):
    spec = load_spec({"input": {"steps": 4, "features": 6}, "convention": convention, "batch": 3, "seed": 8,
                      "loss": "cross_entropy", "layers": [{"type": "attention", "heads": 3, "causal": causal},
                                                          {"type": "flatten"},
                                                          {"type": "dense", "units": 3, "activation": "softmax"}]})
    assert_backprop_matches(spec, torch_loss)
