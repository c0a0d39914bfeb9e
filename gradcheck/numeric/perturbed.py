"""The loss of many perturbed networks, each differing from the base network in one parameter element.

Finite differences need C(θ + δ·e_i) for every element i and a few steps δ. Two ways
to evaluate them, both forward passes only:

* **plain**: stack P copies of layer l's params, each with one element moved, and run
  layer l and every layer above on the stack (folded into the batch where layers treat
  samples independently). The layers below are shared.
* **structured** (the default): a layer kind that knows which part of its output one of
  its elements touches says so through ``unit_change``: for a dense layer, moving
  W[j, k] by δ moves z_j only, to z_j + δ·a_k (the affine layer's forward pass for
  unit j: that is what "affine" means). The next layer, if it is dense too, takes a
  change in one input unit through ``input_change``: z' = z + W[:, j]·Δa_j, again its
  forward pass. Only the layers above that are recomputed in full, on the stack. A
  perturbation of layer l never recomputes the layers below l, nor the rest of layer l.
* **lines** (within structured, for dense layers with analytic layers above): every
  element feeding unit j moves the network along the same line z_j + ε, so each unit's
  loss along that line, fitted from four to six such passes, gives every element's perturbed
  loss (:mod:`gradcheck.numeric.unitlines`); exact evaluations check it.

All return the loss of each perturbed network and whether its forward pass crossed a
kink (a changed :meth:`~gradcheck.catalogue.layers.base.Layer.kink_state`, or a changed kink state of the
loss itself: a hinge term switching on or off). The regularisation term's change is that of the one
element moved (:mod:`gradcheck.catalogue.regularization`), added by :meth:`Perturbed.losses` and
:meth:`Perturbed.along`.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from ..catalogue import regularization
from ..catalogue.losses import loss_of
from ..reference.backprop import forward, fused_loss, loss_value, sample_losses
from .rows import row_top, unit_rows, with_rows
from .stencils import flatten
from .unitlines import UnitLines, fit_passes, fits_lines

__all__ = ["Perturbed", "layer_states", "row_top"]

#: Memory for the arrays of one chunk of perturbed networks (peak use stays a small multiple of this).
CHUNK_BYTES = 8 * 2**20
#: Perturbed networks per call where the unit lines give their losses (a few numbers each).
LINE_CHUNK = 2**16


def layer_states(spec, fw, params):
    """Every layer's kink state in the forward pass ``fw`` at ``params`` (a relu's signs, a max pool's winners; None
    for a layer without kinks)."""
    return [ly.kink_state(fw.a_prev(ly), z, spec.conv, params=p) for ly, z, p in zip(spec.layers, fw.z, params)]


class Perturbed:
    """Evaluates C at θ + δ_p·e_{i_p} for stacks of (element, step) pairs of one layer at a time.

    ``structured=False`` recomputes every perturbed layer in full (the plain mode). ``base``: the forward pass at θ,
    if already made.
    """

    def __init__(self, spec, params, X, Y, structured=True, lines=True, base=None):
        Y = spec.targets(Y)  # class labels: one-hot, once
        self.spec, self.params, self.X, self.Y = spec, params, X, Y
        self.structured = structured
        self.lines = {} if structured and lines else None  # layer -> UnitLines, or None where they failed
        self.widest = {}  # layer -> the widest step its elements will take (see expect), where known
        self._theta, self._chunks, self._fits, self._folds = {}, {}, {}, {}  # facts of the spec and θ, made once
        self._keys = [list(shapes) for shapes in spec.param_shapes()]
        self.base = forward(spec, params, X) if base is None else base
        self.inputs = [self.base.a_prev(ly) for ly in spec.layers]
        self.states = layer_states(spec, self.base, params)
        self.n = spec.samples_in(Y)
        self.fused = fused_loss(spec) is not None
        self.loss_state = loss_of(spec).kink_state(self.base.output, spec.targets(Y))
        self.data_loss = float(loss_value(spec, self.base.output, Y, self.base.z[-1]))
        self.penalty = regularization.penalty(spec, params, self.n)
        self.loss = self.data_loss + self.penalty  # C at θ
        self.weights = {}  # layer -> {penalised key: mask or None}
        for layer, key, mask in regularization.weight_entries(spec) if spec.regularization is not None else ():
            self.weights.setdefault(layer, {})[key] = mask

    @cached_property
    def shares(self):
        """Each sample's share of C at θ, (N,)."""
        return sample_losses(self.spec, self.base.output, self.Y, self.base.z[-1])

    # -- layout ----------------------------------------------------------------------------
    def keys(self, i):
        """Layer i's trainable param names, in the order of its flat θ."""
        return self._keys[i]

    def theta(self, i):
        """Layer i's trainable params flattened in order (made once; read-only)."""
        if i not in self._theta:
            self._theta[i] = flatten([self.params[i][k] for k in self.keys(i)])
            self._theta[i].flags.writeable = False
        return self._theta[i]

    def _split(self, i, flat):
        """Flat indices into layer i's θ -> [(key, positions in ``flat``, indices into that param)]."""
        out, at = [], 0
        keys = self.keys(i)
        if len(keys) == 1:
            return [(keys[0], np.arange(len(flat)), flat)]
        for key in keys:
            size = self.params[i][key].size
            hit = np.flatnonzero((flat >= at) & (flat < at + size))
            if hit.size:
                out.append((key, hit, flat[hit] - at))
            at += size
        return out

    def uses_structure(self, i):
        """True when layer i's perturbations are evaluated from the one unit they change."""
        layers = self.spec.layers
        ly = layers[i]
        return (self.structured and hasattr(ly, "unit_change") and ly.structured
                and (ly.act.elementwise or i == len(layers) - 1)) or (self.structured and hasattr(ly, "output_change")
                                                                      and ly.structured)

    def chunk(self, i, itemsize=8, lines=True):
        """How many perturbed networks of layer i to evaluate at once within :data:`CHUNK_BYTES`.

        Per network: a few arrays of each layer above (z, a and a temporary, per sample),
        and for the plain mode the perturbed layer's params and outputs too.
        """
        if lines and itemsize == 8 and self.uses_lines(i):
            return LINE_CHUNK
        if (i, itemsize) not in self._chunks:
            self._chunks[i, itemsize] = self._chunk(i, itemsize)
        return self._chunks[i, itemsize]

    def _chunk(self, i, itemsize):
        layers = self.spec.layers
        above = 3 * max((m.units for m in layers[i + 1:]), default=0) * self.n  # arrays of one layer at a time
        if self.uses_structure(i) and hasattr(layers[i], "output_change"):
            per = 2 * layers[i].units * self.n + above
        elif self.uses_structure(i):  # one row per layer up to the last that maps rows to rows, then in full
            above = 3 * max((m.units for m in layers[self._row_top(i) + 1:]), default=0) * self.n
            per = 4 * self.n + above
        else:
            per = self.theta(i).size + 3 * layers[i].units * self.n + above
        return max(1, CHUNK_BYTES // (itemsize * per))

    # -- evaluation ------------------------------------------------------------------------
    def losses(self, i, flat, delta, rows=None):
        """(C of each perturbed network, crossed a kink, step actually taken), each shaped like ``delta``.

        C includes the regularisation term, its change being that of the one element moved. ``rows``: (offsets,
        h) where ``delta`` is a stencil, offsets[r]·h[p] (see :meth:`stencil`).
        """
        values, crossed, taken = self._data_losses(i, flat, delta, rows)
        if not self.weights.get(i):  # no element of layer i is penalised: R stays as it is
            values += self.penalty  # values are this call's own
            return values, crossed, taken
        change, kinked = self._penalty_change(i, np.asarray(flat), np.asarray(taken))
        return values + self.penalty + change, crossed | kinked, taken

    def _penalty_change(self, i, flat, delta):
        """(R's change, crossed a kink of R) when layer i's flat θ elements ``flat`` (P,) move by ``delta`` ((P,) or
        (m, P)); zeros where an element is no weight."""
        change, kinked = np.zeros(delta.shape, dtype=delta.dtype), np.zeros(delta.shape, dtype=bool)
        reg, weights = self.spec.regularization, self.weights.get(i, {})
        for key, pos, idx in self._split(i, flat) if weights and flat.size else ():
            if key not in weights:
                continue
            w = self.params[i][key].ravel()[idx]
            on = np.ones(len(idx), dtype=bool) if weights[key] is None else weights[key].ravel()[idx]
            d = delta[..., pos]
            change[..., pos] = np.where(on, regularization.change(reg, w, d, self.n), 0.0)
            kinked[..., pos] = on & regularization.crossed(reg, w, d)
        return change, kinked

    def _data_losses(self, i, flat, delta, rows=None):
        """:meth:`losses` without the regularisation term (the data's share of C).

        Layer i's flat θ element ``flat[p]`` (P,) moves by ``delta[p]`` (P,), or by each of
        ``delta[:, p]`` ((m, P): m steps of every element, a stencil); steps are real, or
        imaginary for complex steps. Where the unit lines serve the layer, each element is
        located once for all its steps.
        """
        flat, delta = np.asarray(flat), np.asarray(delta)
        if self.uses_lines(i) and not np.iscomplexobj(delta):
            values = self._from_lines(i, flat, delta, rows)
            if values is not None:
                return values, np.zeros(values.shape, dtype=bool), delta
        if delta.ndim == 1:
            return self._one_by_one(i, flat, delta)
        out = self._one_by_one(i, np.tile(flat, len(delta)), delta.ravel())
        return tuple(x.reshape(delta.shape) for x in out)

    def _one_by_one(self, i, flat, delta):
        """:meth:`losses` from a pass per perturbed network, in stacks of :meth:`chunk` networks."""
        if not len(flat):
            return np.zeros(0), np.zeros(0, dtype=bool), delta
        size = self.chunk(i, 16 if np.iscomplexobj(delta) else 8, lines=False)
        parts = []
        for start in range(0, len(flat), size):
            f, d = flat[start:start + size], delta[start:start + size]
            parts.append((*self._structured(i, f, d), d) if self.uses_structure(i) else self._plain(i, f, d))
        return parts[0] if len(parts) == 1 else tuple(np.concatenate(x) for x in zip(*parts))

    def close(self):
        """Let go of the unit lines (they refer back to this object, so only the cycle collector would free them,
        and their products are the largest arrays of a check)."""
        if self.lines:
            self.lines = {}

    def expect(self, i, widest):
        """Say that no step of layer i's elements will be wider than ``widest`` (until its lines are let go): the
        unit lines are fitted for exactly that reach, once for every chunk of the layer."""
        self.widest[i] = widest

    def uses_lines(self, i):
        """True when layer i's losses come from :class:`~gradcheck.numeric.unitlines.UnitLines` (real steps)."""
        if self.lines is None or self.lines.get(i, True) is None:
            return False
        if i not in self._fits:
            self._fits[i] = fits_lines(self.spec, i)
        return self._fits[i]

    def line_miss(self, i, flat):
        """Per element ``flat`` (P,) of layer i's θ, how far its losses from the unit lines may be from those of
        passes of its own (:meth:`~gradcheck.numeric.unitlines.UnitLines.miss`); 0 where they come from passes."""
        model = self.lines.get(i) if self.lines else None
        if model is None or not len(flat):
            return np.zeros(len(flat))
        return model.miss(model.locate(np.asarray(flat), rows=False))

    def stencil(self, i, index, h, offsets):
        """:meth:`losses` (m, P) of layer i's flat θ elements ``index`` (P,) each moved by ``offsets[r]·h``
        (m offsets, real or imaginary; ``h`` (P,))."""
        offsets, h = np.asarray(offsets), np.asarray(h)
        return self.losses(i, index, offsets[:, None] * h[None, :], rows=(offsets, h))

    def _from_lines(self, i, flat, delta, rows=None):
        """Losses from the unit lines of layer i for elements ``flat`` (P,) moved by ``delta`` ((P,) or (m, P));
        None where the lines would cost more passes than the elements, and None from now on where exactly
        evaluated steps disagree with them."""
        if i not in self.lines and fit_passes(1) >= np.size(delta):  # a first fit would cost more than the passes
            return None
        model = self.lines.get(i) or self.lines.setdefault(i, UnitLines(self, i))
        unit, row = model.locate(flat)
        out = model.changes(unit, row, delta, budget=np.size(delta), rows=rows)
        if out is None:
            return None
        change, unresolved, agrees = out
        if not agrees:
            self.lines[i] = None
            return None
        values = change
        values += self.data_loss  # in place: the change is this call's own
        if unresolved.any():
            steps = np.atleast_2d(delta)[:, unresolved]
            again = self._one_by_one(i, np.tile(flat[unresolved], len(steps)), steps.ravel())[0]
            values.reshape(steps.shape[0], -1)[:, unresolved] = again.reshape(steps.shape)
        return values

    def _plain(self, i, flat, delta):
        p = len(flat)
        dtype = complex if np.iscomplexobj(delta) else float
        stacked, taken = dict(self.params[i]), np.empty(p, dtype=dtype)
        for key, pos, idx in self._split(i, flat):
            base = self.params[i][key]
            stack = np.broadcast_to(base, (p, *base.shape)).astype(dtype).reshape(p, -1)
            moved = stack[pos, idx] + delta[pos]
            taken[pos] = moved - base.reshape(-1)[idx]  # θ + δ rounds: the step is what it became
            stack[pos, idx] = moved
            stacked[key] = stack.reshape(p, *base.shape)
        for key in self.keys(i):
            if stacked[key] is self.params[i][key]:
                stacked[key] = np.broadcast_to(stacked[key], (p, *stacked[key].shape)).astype(dtype)
        # The data's share only: losses() adds the regularisation term's change, element by element.
        return (*self._data_along(i, stacked), taken)

    def along(self, i, stacked):
        """(C (P,), crossed a kink (P,)) of P networks whose layer i has the params ``stacked`` (each trainable
        param with a leading axis of P; the others as they are) and every other layer the base network's; C
        includes the regularisation term."""
        values, crossed = self._data_along(i, stacked)
        change, kinked = self._penalty_along(i, stacked, len(values))
        return values + self.penalty + change, crossed | kinked

    def _data_along(self, i, stacked):
        """:meth:`along` without the regularisation term (the data's share of C)."""
        p = len(next(v for key, v in stacked.items() if key in self.keys(i)))
        conv, ly = self.spec.conv, self.spec.layers[i]
        z, _ = ly.forward(stacked, self.inputs[i], conv, self.spec.bias)
        crossed = self._moved(i, ly.kink_state(self.inputs[i], z, conv, params=stacked), p)
        a = self._output(ly, z)
        values, more = self._above(i, a, z)
        return values, crossed | more

    def _penalty_along(self, i, stacked, p):
        """(R's change (P,), crossed a kink of R (P,)) when layer i's params are the stack ``stacked``."""
        change, kinked, reg = np.zeros(p), np.zeros(p, dtype=bool), self.spec.regularization
        for key, mask in self.weights.get(i, {}).items():
            w = self.params[i][key].reshape(1, -1)
            d = np.asarray(stacked[key]).reshape(p, -1) - w
            on = True if mask is None else mask.reshape(1, -1)
            change = change + np.where(on, regularization.change(reg, w, d, self.n), 0.0).sum(axis=1)
            kinked |= (on & regularization.crossed(reg, w, d)).any(axis=1)
        return change, kinked

    def _structured(self, i, flat, delta):
        spec, conv = self.spec, self.spec.conv
        ly, base = spec.layers[i], self.base
        p = len(flat)
        if hasattr(ly, "output_change"):  # a layer that rebuilds its output stack from the part an element touches
            z = np.empty((p, *base.z[i].shape), dtype=complex if np.iscomplexobj(delta) else float)
            for key, pos, idx in self._split(i, flat):
                z[pos] = ly.output_change(self.params[i], key, idx, delta[pos], base.a_in[i], base.z[i], conv,
                                          spec.bias)
            crossed = self._moved(i, ly.kink_state(self.inputs[i], z, conv, params=self.params[i]), p)
            a = self._output(ly, z)
            values, more = self._above(i, a, z)
            return values, crossed | more
        unit = np.empty(p, dtype=int)
        z_row = np.empty((p, self.n), dtype=complex if np.iscomplexobj(delta) else float)
        for key, pos, idx in self._split(i, flat):
            unit[pos], z_row[pos] = ly.unit_change(self.params[i], key, idx, delta[pos], base.a_in[i], base.z[i],
                                                   conv, spec.bias)
        return self.from_rows(i, unit, z_row)

    def from_rows(self, i, unit, z_row, samples=False):
        """(C (P,), crossed a kink (P,)) of networks whose layer i has z_{unit[p]} = ``z_row[p]`` (N,) and every
        other z of layer i as in the base network; with ``samples``, each sample's share of C (P, N)."""
        spec, conv = self.spec, self.spec.conv
        layers, ly, base = spec.layers, spec.layers[i], self.base
        rows = unit_rows(base.z[i], conv)
        crossed = self._row_moved(ly, z_row, rows[unit])
        if i == len(layers) - 1 or not ly.act.elementwise:
            z = with_rows(base.z[i], unit, z_row, conv)
            a = self._output(ly, z)
            values, more = self._above(i, a, z, samples)
            return values, crossed | more
        a_row = ly.act.forward(z_row, conv.unit_axis) if ly.has_activation else z_row
        i, a_row, more = self._through_rows(i, unit, a_row)
        crossed |= more
        da_row = a_row - unit_rows(base.a[i], conv)[unit]
        nxt = layers[i + 1]
        if hasattr(nxt, "input_change") and spec.consumers(i) == [i + 1]:
            z = nxt.input_change(self.params[i + 1], base.z[i + 1], unit, da_row, conv, spec.bias)
            crossed |= self._moved(i + 1, nxt.kink_state(None, z, conv), len(unit))
            a = self._output(nxt, z)
            values, more = self._above(i + 1, a, z, samples)
        else:
            a = with_rows(base.a[i], unit, a_row, conv)
            values, more = self._above(i, a, None, samples)
        return values, crossed | more

    def _through_rows(self, i, unit, a_row):
        """Carry changed rows ``a_row`` (P, N) of layer i's units ``unit`` up through the layers above that map
        each unit's row to the same unit's row (``row_change``: a batchnorm's feature over the batch, a standalone
        element-wise activation), below the output layer. (the last such layer, its rows, crossed a kink (P,))."""
        layers, conv = self.spec.layers, self.spec.conv
        crossed = np.zeros(len(unit), dtype=bool)
        for k in range(i + 1, self._row_top(i) + 1):
            ly = layers[k]
            z_row = ly.row_change(self.params[k], unit, a_row, conv)
            crossed |= self._row_moved(ly, z_row, unit_rows(self.base.z[k], conv)[unit])
            a_row = ly.act.forward(z_row, conv.unit_axis) if ly.has_activation else z_row
        return self._row_top(i), a_row, crossed

    def _row_top(self, i):
        return row_top(self.spec, i)

    def _above(self, start, a, z, samples=False):
        """Run layers above ``start`` on the stack a (P, ...) of its outputs; (losses (P,), crossed (P,)), or with
        ``samples`` each sample's share of the loss (P, N).

        Only the layers a change of layer ``start`` reaches are run; a layer that joins a changed input with
        unchanged ones gets the unchanged ones as the base network computed them (broadcast over the stack).
        """
        spec, conv = self.spec, self.spec.conv
        p = a.shape[0]
        crossed = np.zeros(p, dtype=bool)
        upper = spec.layers[start + 1:]
        if start not in self._folds:
            self._folds[start] = spec.is_chain and all(m.per_sample for m in upper) and any(m.folds for m in upper)
        fold = self._folds[start]
        if fold:
            a = conv.fold(a)
        changed = {start: (a, z)}
        for ly in upper:
            if not any(j in changed for j in ly.inputs):
                continue
            got = [changed[j][0] if j in changed else self._unchanged(j) for j in ly.inputs]
            a_prev = got if ly.multi_input else got[0]
            z, _ = ly.forward(self.params[ly.index], a_prev, conv, spec.bias)
            a = self._output(ly, z)
            changed[ly.index] = (a, z)
            own = self.params[ly.index]
            if fold:
                state = ly.kink_state(conv.unfold(a_prev, p), conv.unfold(z, p), conv, params=own)
            else:
                state = ly.kink_state(a_prev, z, conv, params=own)
            crossed |= self._moved(ly.index, state, p)
        a, z = changed[len(spec.layers) - 1]
        if fold:
            a, z = conv.unfold(a, p), conv.unfold(z, p)
        if self.loss_state is not None:  # a kink of the loss itself (a hinge term switching on or off)
            crossed |= self._loss_moved(a, p)
        if samples:
            return sample_losses(spec, a, self.Y, z), crossed
        return np.asarray(loss_value(spec, a, self.Y, z)), crossed

    def kinks_crossed(self, i, flat, step):
        """The entries of the kink states (as (layer, flat entry), the loss's as layer −1) that differ from θ's in
        the network whose layer i's flat θ element ``flat`` moved by ``step``: one full forward pass. None where
        that element is a weight of a kinked regularization term (its own kink at 0 is no kink state)."""
        ((key, _, index),) = self._split(i, np.array([flat]))
        reg = self.spec.regularization
        if reg is not None and reg.kinked and key in self.weights.get(i, {}):
            return None
        params = list(self.params)
        moved = np.array(params[i][key], dtype=float)
        moved.reshape(-1)[index[0]] += step
        params[i] = {**params[i], key: moved}
        fw = forward(self.spec, params, self.X)
        now = [*layer_states(self.spec, fw, params), loss_of(self.spec).kink_state(fw.output, self.Y)]
        then = [*self.states, self.loss_state]
        return frozenset((layer if layer < len(self.states) else -1, int(k))
                         for layer, (a, b) in enumerate(zip(now, then)) if a is not None and b is not None
                         for k in np.flatnonzero(np.asarray(a != b).ravel()))

    def _unchanged(self, j):
        """The base network's output of layer j (-1: X), the same in every network of a stack (a fold happens on
        chains only, where no layer reads an unchanged input)."""
        return self.X if j < 0 else self.base.a[j]

    def _output(self, ly, z):
        """Layer ``ly``'s a from its z: z itself at an output whose loss is computed from z (the fused loss reads
        only z, so its softmax or σ is not evaluated for every perturbed network)."""
        if not ly.has_activation or (self.fused and ly.index == len(self.spec.layers) - 1):
            return z
        return ly.act.forward(z, ly.unit_axis(self.spec.conv))

    def _moved(self, i, state, p):
        """Per network of the stack (``p`` of them), whether layer i's kink state differs from the base's."""
        if state is None or self.states[i] is None or np.iscomplexobj(state):
            return np.zeros(p, dtype=bool)
        return (state != self.states[i]).reshape(p, -1).any(axis=1)

    def _loss_moved(self, a, p):
        """Per network of the stack, whether the loss's kink state differs from the base's."""
        if np.iscomplexobj(a):
            return np.zeros(p, dtype=bool)
        state = loss_of(self.spec).kink_state(a, self.Y)
        return (state != self.loss_state).reshape(p, -1).any(axis=1)

    @staticmethod
    def _row_moved(ly, z_row, z_base):
        kinks = ly.act.kinks if ly.has_activation else ()
        if not kinks or np.iscomplexobj(z_row):
            return np.zeros(len(z_row), dtype=bool)
        return np.any([(np.sign(z_row - k) != np.sign(z_base - k)).any(axis=1) for k in kinks], axis=0)
