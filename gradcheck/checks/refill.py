"""A sampled network check's elements: the sample it perturbs, and the refill with what group testing named.

A sampled check (:mod:`gradcheck.numeric.sampled`) perturbs a sample of each tensor; the
random directional derivatives over all elements then name, by group testing, elements
outside the sample whose gradient disagrees. Their finite differences are computed too and
merged into the sample's, so that their verdicts are as complete as a full check's.
"""

from __future__ import annotations

import numpy as np

from ..numeric.kinks import merge_sides
from ..numeric.network import numeric_gradient
from ..numeric.sampled import choose_elements, directions_text

__all__ = ["sample", "refill", "mask", "sampled_note"]


def sample(spec, size, seed, cover=True):
    """Per layer, {param: flat indices} of the elements a sampled check perturbs (every row and column hit, unless
    ``cover`` is False)."""
    rng = np.random.default_rng([seed or 0, 0x5A3])
    return [{key: choose_elements(shape, size, rng, cover) for key, shape in shapes.items()}
            for shapes in spec.param_shapes()]


def refill(spec, params, X, Y, numeric, elements, found, opts):
    """The elements checked once group testing's are added: their finite differences merged into ``numeric``."""
    located = _located(spec, found)
    if not any(idx.size for layer in located for idx in layer.values()):
        return elements
    more = numeric_gradient(spec, params, X, Y, step=opts.step, method=opts.method, elements=located)
    for ours, theirs, sampled in zip(_parts(numeric), _parts(more), located):
        for part, extra in zip(ours, theirs):
            for key, flat in sampled.items():
                part[key].ravel()[flat] = extra[key].ravel()[flat]
    merge_sides(numeric, more, located)
    return [{key: np.union1d(elements[i][key], located[i][key]) for key in located[i]} for i in range(len(located))]


def _located(spec, found):
    """Per layer, {param: flat indices} of the elements group testing named."""
    named = {}
    for d in found:
        for names in d.located.values():
            for name, index in names:
                named.setdefault(name, []).append(index)
    return [{key: np.asarray([np.ravel_multi_index(idx, shape) for idx in named.get(name, [])], dtype=int)
             for name, _, key, shape in layer}
            for layer in _names_by_layer(spec)]


def _names_by_layer(spec):
    layers = [[] for _ in spec.layers]
    for name, layer, kind, shape in spec.param_names():
        layers[layer].append((name, layer, kind, tuple(shape)))
    return layers


def _parts(numeric):
    """Per layer, the (grads, bounds, kinks) dicts of a NumericGradient."""
    return list(zip(numeric.grads, numeric.bounds, numeric.kinks))


def mask(elements, layer, kind, shape):
    """The boolean mask of one tensor's checked elements, or None for a full check."""
    if elements is None:
        return None
    out = np.zeros(int(np.prod(shape, dtype=np.int64)), dtype=bool)
    out[elements[layer][kind]] = True
    return out.reshape(shape)


def sampled_note(spec, elements, found, cover=True):
    checked = sum(len(idx) for layer in elements for idx in layer.values())
    chosen = "every row and column of each weight" if cover else "chosen at random"
    return (f"sampled check: {checked:,} of {spec.n_params:,} elements checked by finite differences ({chosen}), "
            f"and {directions_text(found)}")
