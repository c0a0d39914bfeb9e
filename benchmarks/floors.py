"""The physical floor of a full forward-difference check: the flops it cannot do without.

Moving one element of W^l (or b^l) by a step changes one pre-activation row, z_j of layer
l, in every sample, and nothing below it. So the least any exact finite-difference check
can compute for that element, per sample and per step, is: the changed z_j (one multiply-add
for a weight, one add for a bias), its activation a_j, the change it makes to layer l+1
(one multiply-add per unit of l+1, W^{l+1}[:, j]·Δa_j) and that layer's activations, then
every layer above in full, then the loss. Counted as: a multiply-add 2 flops, any other
arithmetic operation 1, an activation (tanh) 1 per entry, the loss 3 per changed output
entry for mse ((a − y)², summed) and 4 per output entry for softmax with cross-entropy (all
of them change together). Two floors:

* **element floor**: a forward difference per element (one step: C(θ + h·e) − C(θ)), each
  element through its unit and the layers above as above, plus one base forward pass. It is
  exact, and what a perfectly vectorised per-element check would cost.
* **unit floor**: every element of unit j moves the network along the same line z_j + ε
  (see :mod:`gradcheck.numeric.unitlines`); where no layer mixes samples, one step per
  *unit* through the layers above, then one N-long dot product per element (its loss
  change to first order, Σ_n ψ'_jn·δ·a_k[n]), plus the base forward pass. A lower bound for
  any scheme built on the unit lines (gradcheck's evaluates each line at six points and
  checks two of its steps exactly). Undefined where a layer mixes samples (batchnorm).

Measured time / (floor flops / the machine's flop rate at a big matrix product) is how far a
check is from the floor.
"""

from __future__ import annotations

import numpy as np

MADD, ACT, BN_ROW = 2, 1, 7  # flops per multiply-add, per activation, per entry of one batchnorm feature row


def _loss(sizes, loss, changed):
    """Loss flops per sample when ``changed`` output entries moved."""
    return 4 * sizes[-1] if loss == "cross_entropy" else 3 * changed


def _above(sizes, loss, i):
    """Per-sample flops from a changed a_j of hidden layer i (1-based) to the loss."""
    L = len(sizes) - 1
    cost = MADD * sizes[i + 1] + (ACT * sizes[i + 1] if i + 1 < L else 0)
    for m in range(i + 2, L + 1):
        cost += MADD * sizes[m - 1] * sizes[m] + (ACT * sizes[m] if m < L else 0)
    return cost + _loss(sizes, loss, sizes[-1])  # W^{i+1}[:, j]·Δa_j reaches every output


def _to_loss(sizes, loss, i):
    """Per-sample flops from a changed z_j of layer i (1-based) to the loss (its activation, the layers above)."""
    return _loss(sizes, loss, 1) if i == len(sizes) - 1 else ACT + _above(sizes, loss, i)


def _forward(sizes, loss, n):
    L = len(sizes) - 1
    per = sum(MADD * sizes[i - 1] * sizes[i] + sizes[i] + (ACT * sizes[i] if i < L else 0) for i in range(1, L + 1))
    return n * (per + _loss(sizes, loss, sizes[-1]))


def dense_floors(sizes, n, loss="mse"):
    """(element floor, unit floor) flops of a dense chain ``sizes`` = [inputs, units of each layer...] (tanh hidden,
    linear or softmax output), ``n`` samples, ``loss`` "mse" or "cross_entropy"."""
    element = unit = _forward(sizes, loss, n)
    for i in range(1, len(sizes)):
        weights, biases = sizes[i] * sizes[i - 1], sizes[i]
        rest = _to_loss(sizes, loss, i)
        element += n * (weights * (MADD + rest) + biases * (1 + rest))
        unit += n * sizes[i] * (1 + rest) + (weights + biases) * MADD * n
    return element, unit


def makemore_floor(X, vocab=27, dim=10, hidden=200, classes=27):
    """The element floor of makemore's MLP (embedding ``vocab``×``dim`` of a context of X.shape[1] tokens, flatten,
    dense → ``hidden``, batchnorm, tanh, dense → ``classes`` softmax, cross-entropy) on token ids ``X`` (N, T).

    Batchnorm ties the samples: a changed feature row costs BN_ROW per sample, and an embedding element, which
    moves every hidden unit of the samples where its token occurs, renormalises every feature of every sample.
    No unit floor (the loss is not a sum of per-sample shares)."""
    n, t = X.shape
    fan_in = t * dim
    loss = 4 * classes
    row_head = ACT + MADD * classes + loss  # per sample: tanh of one moved feature, the output's change, the loss
    full_head = hidden * (BN_ROW + ACT) + MADD * hidden * classes + classes + loss  # every feature moved
    base = n * (MADD * fan_in * hidden + hidden + full_head)
    occurrences = np.bincount(np.asarray(X).ravel(), minlength=vocab)
    table = dim * MADD * hidden * int(occurrences.sum()) + vocab * dim * n * full_head
    dense1 = n * (fan_in * hidden * (MADD + BN_ROW + row_head) + hidden * (1 + BN_ROW + row_head))
    norm = n * 2 * hidden * (MADD + row_head)  # gamma, beta: one feature's output row
    dense2 = n * (hidden * classes * (MADD + loss) + classes * (1 + loss))
    return base + table + dense1 + norm + dense2
