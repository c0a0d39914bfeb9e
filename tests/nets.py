"""Small networks for the tests: a spec from sizes and activations, and seeded random ones."""

from __future__ import annotations

from gradcheck.spec.parse import load_spec

HIDDEN = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "softplus"]
CONVENTIONS = ["column", "row"]
BIASES = ["separate", "none", "augmented"]
LOSS_NAMES = ["mse", "quadratic", "sse", "cross_entropy", "bce"]
#: An output activation each loss is defined with (cross_entropy and bce require theirs).
OUTPUT_FOR = {"mse": "tanh", "quadratic": "sigmoid", "sse": "linear", "cross_entropy": "softmax", "bce": "sigmoid"}


def make_spec(sizes, acts, loss="mse", convention="column", bias="separate", batch=5, seed=0):
    """A Spec for a network with layer widths ``sizes`` (input first) and one activation per layer."""
    return load_spec({"input": sizes[0], "layers": [{"units": u, "activation": a} for u, a in zip(sizes[1:], acts)],
                      "loss": loss, "convention": convention, "bias": bias, "batch": batch, "seed": seed})


def random_spec(rng, seed, max_batch=6):
    """A random valid network of 1-3 layers, 1-4 units each, any loss, convention and bias style."""
    depth = int(rng.integers(1, 4))
    sizes = [int(s) for s in rng.integers(1, 5, depth + 1)]
    acts = [str(rng.choice(HIDDEN)) for _ in range(depth)]
    loss = str(rng.choice(LOSS_NAMES))
    if loss in ("cross_entropy", "bce"):
        acts[-1] = OUTPUT_FOR[loss]
    if loss == "cross_entropy":
        sizes[-1] = max(sizes[-1], 2)  # a softmax over one unit is refused
    return make_spec(sizes, acts, loss, str(rng.choice(CONVENTIONS)), str(rng.choice(BIASES)),
                     batch=int(rng.integers(1, max_batch + 1)), seed=seed)
