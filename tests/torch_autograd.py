"""The comparison the opt-in torch tests share: the reference backprop against torch autograd of the same cost.

Each tests/test_torch_*.py writes its network in torch (``torch_loss``) and hands it here; torch is
imported only when a comparison runs, so this module imports (and is collected) without torch.
"""

import numpy as np
import pytest

from gradcheck.reference.backprop import backprop  # the function (gradcheck.reference.backprop is also its module)


def assert_backprop_matches(spec, torch_loss, data=None, rtol=1e-9):
    """C and every gradient of the reference backprop of ``spec`` at its own params equal torch autograd's of
    ``torch_loss(spec, tparams, X, Y)`` (``tparams``: the params as tensors, per layer; ``data``: (X, Y), by default
    the spec's batch). Only the trainable params get a gradient (a dropout mask is passed without one)."""
    import torch

    params = spec.parameters()
    X, Y = spec.batch_data() if data is None else data
    C, grads = backprop(spec, params, X, Y)
    tparams = [{k: torch.tensor(v, requires_grad=k in trainable) for k, v in p.items()}
               for p, trainable in zip(params, spec.param_shapes())]
    tC = torch_loss(spec, tparams, X, Y)
    tC.backward()
    assert C == pytest.approx(tC.item(), rel=1e-12)
    for g, tp in zip(grads, tparams):
        assert set(g) == {k for k, v in tp.items() if v.requires_grad}
        for k in g:
            np.testing.assert_allclose(g[k], tp[k].grad.numpy(), rtol=rtol, atol=1e-13)
