"""Opt-in: the loss options against PyTorch's own losses and autograd, an outside oracle.

Runs only where torch is installed; gradcheck never depends on it. CS231n's svm is torch's
``multi_margin_loss`` (p=1, its mean over the samples divides by K as well, so it is scaled
by K here), cross-entropy on integer labels is ``cross_entropy`` on the logits, the
reductions are torch's ``reduction="sum"``, and the l2 forms are written out on the weights.
"""

import numpy as np
import pytest
from torch_autograd import assert_backprop_matches

from gradcheck import load_spec

torch = pytest.importorskip("torch")
F = torch.nn.functional

REG = {"sum": lambda lam, n: lam, "half": lambda lam, n: lam / 2, "half_n": lambda lam, n: lam / (2 * n)}


def torch_cost(spec, params, X, labels):
    """C by torch from the samples-as-rows data and integer labels: tanh hidden layer, linear scores, the loss."""
    a = torch.tensor(np.asarray(X))
    for i, p in enumerate(params):
        z = a @ p["W"] + p["b"]
        a = torch.tanh(z) if i < len(params) - 1 else z
    y = torch.tensor(labels)
    n, k = a.shape
    summed = spec.reduction == "sum"
    if spec.loss == "svm":
        # multi_margin_loss = 1/K Σ_{j≠y} max(0, Δ − s_y + s_j) per sample: times K for CS231n's.
        C = k * F.multi_margin_loss(a, y, p=1, margin=spec.margin, reduction="sum" if summed else "mean")
    else:
        C = F.cross_entropy(a, y, reduction="sum" if summed else "mean")
    reg = spec.regularization
    if reg is not None:
        C = C + REG[reg.form](reg.lam, n) * sum((p["W"] ** 2).sum() for p in params)
    return C


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("form", [None, "sum", "half", "half_n"])
@pytest.mark.parametrize("loss", ["svm", "cross_entropy"])
def test_losses_with_labels_match_torch(loss, form, reduction):
    out = "linear" if loss == "svm" else "softmax"
    raw = {"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"units": 3, "activation": out}],
           "loss": loss, "convention": "row", "batch": 6, "seed": 5, "reduction": reduction}
    if form:
        raw["regularization"] = {"l2": 0.3, "form": form}
    if loss == "svm":
        raw["margin"] = 0.5
    spec = load_spec(raw)
    labels = np.random.default_rng(1).integers(0, 3, 6)
    assert_backprop_matches(spec, torch_cost, data=(spec.batch_data()[0], labels), rtol=1e-10)
