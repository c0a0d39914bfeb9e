"""How far a correct float64 backprop may be from the exact gradient: the allowance for an analytic opinion.

Two parts, both in units of ε (dicts shaped like the params):

* **local**: each layer's own products and sums, δ·a_prev summed over the batch, add
  at most ε times the sum of their magnitudes (the layer's backward run on |δ|,
  |a_prev|, |W|; a norm adds the means it subtracts, and counts the rounding of its
  x − μ, which for a single feature is all there is of x̂);
* **propagated**: the rounding made above a layer reaches its gradient through the
  backward pass itself. Each layer's rounding is injected with random signs, as
  rounding errors are, and carried down by the layers' own (signed) backward
  functions, :data:`DRAWS` times, and once more with every sign +1 (errors made alike
  add up); the root mean square, times :data:`SIGMAS`. Carried on magnitudes instead
  (|W|ᵀ|δ|), nothing would cancel, and through many layers the estimate would grow far
  past any real error, to the size of the gradient itself.

The output error a − y is good to ε times the terms the output's z summed (an output
that cancels to 0 up to rounding makes a − y, and every gradient, rounding of that
size), plus what the layers below carry up into the output: its largest move when every
param moves by an ulp with random signs (a sum that cancels to rounding below makes the
outputs above it that rounding too). And a loss cannot see an output error whose term in it underflows (below √tiny
for a loss of squares): what such outputs contribute to a gradient, no finite difference can show (:func:`unseen`).
"""

from __future__ import annotations

import numpy as np

from ..catalogue.losses import loss_of, normaliser
from .backprop import backprop, forward, fused_loss, loss_frame, pass_back, reference_pass, unrows

__all__ = ["DRAWS", "LOW_PRECISION_RUNS", "SIGMAS", "backprop_rounding", "low_precision_rounding", "random_signs",
           "ulp_moved", "unseen"]

EPS = np.finfo(np.float64).eps
#: The smallest normal float64: an output error whose term in C is below it is lost to C (see :func:`unseen`).
TINY = float(np.finfo(np.float64).tiny)
#: Random-sign draws of the propagated rounding, and how many of their root-mean-square deviations are allowed.
#: One more draw gives every rounding error the sign +1: errors made alike (the same saturated output in
#: every sample, samples that are copies of each other) add up instead of cancelling, and a few random draws
#: can make them cancel exactly (two equal samples, opposite signs: one draw in two).
DRAWS = 3
SIGMAS = 4.0


_SIGNS = np.array([-1.0, 1.0])


def random_signs(rng, shape):
    """±1 with equal chance, an array of ``shape``: the same draws as ``rng.choice((-1.0, 1.0), size=shape)``,
    without its per-call set-up (which, at a few dozen calls per check, costs more than the draws)."""
    return _SIGNS[rng.integers(0, 2, size=shape)]


def _magnitude(cache):
    """|x| of every array in a layer's forward cache (an array, a tuple of arrays and sizes, or None)."""
    if isinstance(cache, np.ndarray):
        return np.abs(cache)
    if isinstance(cache, (tuple, list)):
        return type(cache)(_magnitude(c) for c in cache)
    return cache


def _output_error(spec, params, X, Y, fw):
    """The output error's rounding (units of ε): |a| + |y| + the output z's summed terms, times |∂δ/∂(a − y)|."""
    conv, a = spec.conv, fw.output
    last = spec.layers[-1]
    inputs = fw.a_prev(last)
    terms = np.abs(last.forward({key: np.abs(v) for key, v in params[-1].items()}, np.abs(inputs), conv,
                                spec.bias)[0]) if "W" in params[-1] and not last.multi_input else 0.0
    # z's rounding (ε·terms) reaches a through the output activation's slope; a itself is good to ε·|a| and the
    # subtraction a − y to ε·|a − y| (y is exact). Where σ saturates, the slope is tiny and so is what z's rounding
    # does to a − y: y·(1 − σ) computed from z is then good to its own few ulps.
    if last.has_activation and last.act.derivative is not None:
        with np.errstate(all="ignore"):
            slope = np.abs(last.act.derivative(fw.z[-1], a))
        moved = np.where(np.isfinite(slope), slope, 1.0) * terms
    elif last.has_activation:  # softmax: its own rounding and its move, both bounded by the others' share
        axis = last.unit_axis(conv)
        summed = _target_sum(a, Y, axis) if fused_loss(spec) is not None else 0.0  # cross-entropy's Σy
        return (_softmax_rounding(a, terms, axis) + np.abs(a - Y) + summed + _carried(spec, params, X, fw)) \
            * _unit(spec, fw)
    else:
        moved = terms
    return (np.abs(a) + np.abs(a - Y) + moved + _carried(spec, params, X, fw)) * _unit(spec, fw)


def _target_sum(a, Y, axis):
    """|a|·|Σ_k y_k − fl(Σ_k y_k)| in units of ε: cross-entropy's δ = a·Σy − y (a − y where the targets sum to 1)
    takes each sample's targets summed in float64, and soft targets of 1 and 7e-131 sum to exactly 1 there, so δ
    of the class at 1, under a softmax saturated at exactly 1, is 0 for an exact 7e-131: an error of the sum's
    rounding times a, which the loss itself (its only term 7e-131 times a logit of 1e197) shows to the finite
    differences. Zero for targets of 0 and 1 (class labels), whose sums are exact. The exact sum is Neumaier's
    compensated one, over the targets in turn."""
    if np.all((Y == 0) | (Y == 1)):
        return 0.0
    Y = np.asarray(Y, dtype=float)
    total = carry = 0.0
    with np.errstate(all="ignore"):
        rounded = Y.sum(axis=axis)  # as the backprop sums them (in the same layout: the same order)
        for y in np.moveaxis(Y, axis, 0):
            after = total + y
            carry = carry + np.where(np.abs(total) >= np.abs(y), (total - after) + y, (y - after) + total)
            total = after
        missed = np.abs((total - rounded) + carry)
    missed = np.expand_dims(np.where(np.isfinite(missed), missed, 0.0), axis)
    return np.abs(a) * missed / EPS


def _softmax_rounding(a, terms, axis):
    """How far softmax's outputs ``a`` may be from exact, in units of ε, when each z_j is good to ``terms``_j: its
    own rounding, and a_i = a_i·Σ_(j≠i) a_j·(dz_i − dz_j) moved by at most a_i·(Σ_(j≠i) a_j·|dz_i| + Σ_(j≠i)
    a_j·|dz_j|). Saturated (a_i = 1 − 1e-10 under logits of 1e8, rounded at 1e-8), an output hardly moves: the
    bound |a_i|·|dz_i| made every gradient below it rounding. Its own rounding is ε·a_i, but at most the
    others' sum Σ_(j≠i) a_j (a few times it) where that is below ε: a_i = 1/(1 + Σ_(j≠i) e_j) rounds to exactly 1
    with an error of that sum, and δ = a − y to exactly 0 (for an exact −3.5e-24, or −1e-400)."""
    terms = np.broadcast_to(terms, a.shape)
    top = np.zeros(a.shape, dtype=bool)  # the largest output of each row: its Σ_(j≠i) is summed, not 1 − a_i
    np.put_along_axis(top, np.expand_dims(a.argmax(axis=axis), axis), True, axis=axis)

    def others(x):  # Σ_(j≠i) x_j for every i, without cancelling against the largest
        rest = np.where(top, 0.0, x).sum(axis=axis, keepdims=True)
        return np.where(top, rest, np.maximum(x.sum(axis=axis, keepdims=True) - x, 0.0))

    share = others(a)
    return np.minimum(a, 4.0 * share / EPS) + a * (share * terms + others(a * terms))


def _carried(spec, params, X, fw, seed=0):
    """The rounding the layers below the output carry into it, in units of ε: the largest move of the output when
    every trainable param moves by one ulp with random signs, :data:`DRAWS` forward passes. Each product w·a of a
    sum rounds like w moved by an ulp; where a layer's sum cancels far below its terms (two channels of ±0.44
    summed by equal weights to 1e-17), that rounding is all the value there is, and every output above it, and
    every gradient, carries it. (All params moved alike would only scale such a sum: the signs must differ.)"""
    worst = np.zeros(np.shape(fw.output))
    with np.errstate(all="ignore"):
        for moved in ulp_moved(spec, params, np.random.default_rng([seed, 0xF0D]), DRAWS):
            move = np.abs(forward(spec, moved, X).output - fw.output)
            worst = np.maximum(worst, np.where(np.isfinite(move), move, 0.0))
    return worst / EPS


def ulp_moved(spec, params, rng, draws):
    """``draws`` copies of ``params``, in each every trainable element moved by one ulp, up or down at random (the
    signs of all of them drawn at once, draw by draw); buffers stay as they are."""
    trainable = spec.param_shapes()
    keys = [(i, key) for i, p in enumerate(params) for key in p if key in trainable[i]]
    ends = np.cumsum([0] + [np.size(params[i][key]) for i, key in keys])
    for factor in 1.0 + EPS * random_signs(rng, (draws, int(ends[-1]))):
        moved = [dict(p) for p in params]
        for (i, key), start, end in zip(keys, ends[:-1], ends[1:]):
            moved[i][key] = params[i][key] * factor[start:end].reshape(np.shape(params[i][key]))
        yield moved


def _unit(spec, fw):
    """|∂δ/∂(a − y)| at the output: what a unit of output error makes of δ."""
    loss = loss_of(spec)
    a = fw.output
    n, k, _, rows = loss_frame(spec, a)
    if fused_loss(spec) is not None or loss.kinked:  # δ = (a − y) over the loss's mean (N·K, or N); a hinge: ±1/N
        n, k = normaliser(spec.reduction, n, k)
        return np.full(a.shape, 1.0 / (n * k if loss.per_output_mean else n))
    with np.errstate(all="ignore"):  # the configured loss divides as its reduction says
        unit = unrows(spec, np.abs(loss.grad(rows(a) + 1.0, rows(a), n, k)), a.shape)
    return np.where(np.isfinite(unit), unit, 0.0)


def unseen(spec, params, X, Y, fw=None):
    """Per element, the most that output errors the loss cannot show may add to a gradient: errors e whose term
    e^p in C underflows, p the loss's :attr:`~gradcheck.catalogue.losses.Loss.error_power` (below √tiny for a loss
    of squares; below tiny for the log losses and the hinge, whose terms are the error itself: a softmax output of
    1e-198 on a class of target 0 is C's whole value, and a finite difference sees it); the backward pass on
    magnitudes from that limit times |∂δ/∂(a − y)| at those outputs. None where every output error is larger (the
    usual case: nothing to add). ``fw``: the forward pass, if made."""
    fw = forward(spec, params, X) if fw is None else fw
    below = TINY ** (1.0 / loss_of(spec).error_power)
    hidden = np.abs(fw.output - Y) < below
    if not hidden.any():
        return None
    conv, last = spec.conv, len(spec.layers) - 1
    fused = fused_loss(spec) is not None
    pending = {last: below * _unit(spec, fw) * hidden}
    out = [None] * len(spec.layers)
    for ly in reversed(spec.layers):
        i = ly.index
        size = pending.pop(i)
        if ly.has_activation and not (fused and i == last):
            z, a = fw.z[i], fw.a[i]
            size = size * np.abs(ly.act.derivative(z, a) if ly.act.derivative is not None else a)
        absolute = {key: np.abs(v) for key, v in params[i].items()}
        grads, size = ly.backward_magnitude(size, _magnitude(fw.a_in[i]), absolute, conv, spec.bias)
        out[i] = {key: np.abs(v) for key, v in grads.items()}
        if size is not None:
            pass_back(pending, ly, [np.abs(d) for d in size] if ly.multi_input else np.abs(size))
    return out


def backprop_rounding(spec, params, X, Y, seed=0, done=None):
    """Per element, the rounding error a correct float64 backprop may have, in units of ε (dicts shaped like
    params): the local part plus :data:`SIGMAS` × the propagated part's root mean square (see the module).
    ``done``, the :class:`~gradcheck.reference.backprop.ReferencePass` of these params, if already made."""
    if done is None:
        done = reference_pass(spec, params, X, Y)
    injected = roundings(spec, params, X, Y, done)
    spread, overflowed = _propagated(spec, params, done, injected, seed)
    rms = [{key: part.rms(DRAWS + 1) for key, part in layer.items()} for layer in spread]
    if overflowed or not all(np.all(np.isfinite(v)) for layer in rms for v in layer.values()):
        # The draws overflowed (weights of 1e199): the propagation is linear in the roundings it carries, so run
        # it again with all of them scaled down by a power of two and scaled back, and keep the larger of the two
        # (each is good where it neither overflowed nor underflowed; inf where even the scaled run overflows).
        again, _ = _propagated(spec, params, done, injected, seed, scale=RESCALE)
        for layer, other in zip(rms, again):
            for key, v in layer.items():
                with np.errstate(over="ignore"):
                    layer[key] = np.maximum(np.where(np.isfinite(v), v, np.inf), other[key].rms(DRAWS + 1) / RESCALE)
    local = injected[-1]
    return [{key: _unbounded(local[i][key] + SIGMAS * rms[i][key]) for key in local[i]}
            for i in range(len(spec.layers))]


def roundings(spec, params, X, Y, done):
    """What the draws carry and what does not depend on them: (per layer, σ'(z)'s rounding times ∂C/∂a, None
    without an activation; per layer, its own rounding of ∂C/∂a_prev; the output's error; per layer, its own
    rounding of each param's gradient, the local part), of the reference pass ``done``."""
    conv, fw, seen = spec.conv, done.fw, done.seen
    last = len(spec.layers) - 1
    fused = fused_loss(spec) is not None
    local, own_da, slopes = [None] * len(spec.layers), [None] * len(spec.layers), [None] * len(spec.layers)
    rounded = [None] * len(spec.layers)  # each layer's output's rounding beyond ε·|a|, where a layer magnified it
    for ly in spec.layers:
        i = ly.index
        z, delta, a, da = seen[i]
        size = np.abs(np.where(np.isfinite(delta), delta, 0.0))
        magnitudes = {key: np.abs(v) for key, v in params[i].items()}
        own, own_da[i] = ly.backward_magnitude(size, _magnitude(fw.a_in[i]), magnitudes, conv, spec.bias,
                                               a_prev=_magnitude(fw.a_prev(ly)))
        local[i] = {key: np.abs(v) for key, v in own.items()}
        rounded[i] = _input_rounding(ly, fw, params[i], magnitudes, spec, size, local[i], rounded)
        if ly.has_activation and not (i == last and fused):
            with np.errstate(all="ignore"):
                slope = np.abs(ly.act.derivative(z, a) if ly.act.derivative is not None else a)
                own = ly.act.derivative_rounding  # σ'(z)'s own rounding, in units of ε
                slopes[i] = np.abs(da) * (slope + 1.0 if own is None else own(z, a))
    out_err = _output_error(spec, params, X, Y, fw)
    _output_products(spec, params, fw, out_err, slopes[last], local[last])
    return slopes, own_da, out_err, local


def _output_products(spec, params, fw, out_err, slope, local):
    """Add to the output layer's local part (in place) its output error ``out_err`` carried through its own
    products on magnitudes: Σ_n |a_prev|·|e_n|. The random-sign draws that carry it further cancel exactly where
    two samples' errors are alike in size and their inputs opposite in sign (a softmax saturated at exactly 1 in
    both, under states of −1 and +1: δ = a − y is 0 in float64 for an exact 3.5e-24 in one of them), while each
    sample's rounding is its own; through one layer, magnitudes do not grow as they would through many."""
    last = spec.layers[-1]
    size = out_err
    if slope is not None and last.act.derivative is not None:  # the output activation's slope, where not fused
        with np.errstate(all="ignore"):
            size = out_err * np.abs(last.act.derivative(fw.z[-1], fw.output))
    size = np.where(np.isfinite(size), size, 0.0)
    magnitudes = {key: np.abs(v) for key, v in params[-1].items()}
    with np.errstate(all="ignore"):
        grads, _ = last.backward_magnitude(size, _magnitude(fw.a_in[last.index]), magnitudes, spec.conv, spec.bias)
    for key in local:
        extra = np.abs(grads[key])
        local[key] = local[key] + np.where(np.isfinite(extra), extra, 0.0)


#: The scale of the second run of draws where the first overflowed (exact: a power of two).
RESCALE = 2.0**-600


def _propagated(spec, params, done, injected, seed, scale=1.0):
    """(per layer and param, the :class:`_Spread` of the draws of the rounding carried back from the output (and
    injected at every activation and layer on the way: ``injected`` is (σ' noise per layer, ∂C/∂a_prev's own
    rounding per layer, the output's error, and the local parts, whose keys are the params'), all of it times
    ``scale``; the same draws for the same ``seed``; whether any draw overflowed on the way)."""
    conv, fw, seen = spec.conv, done.fw, done.seen
    slopes, own_da, out_err, local = injected
    last = len(spec.layers) - 1
    rng = np.random.default_rng([seed, 0x40D])
    spread = [{key: _Spread() for key in own} for own in local]
    # All draws in one pass where every layer's backward takes a stack (and no softmax's Jacobian, which sums over
    # a unit axis counted from the front, is applied to it); else one pass per draw.
    stacked = all(ly.stacks_backward and (slopes[ly.index] is None or ly.act.derivative is not None)
                  for ly in spec.layers)
    runs = [(DRAWS + 1, True)] if stacked else [(None, k == 0) for k in range(DRAWS + 1)]
    overflowed = False
    for draws, coherent in runs:
        signs = _Signs(rng, () if draws is None else (draws,), coherent)
        pending = {last: scale * out_err * signs(out_err.shape)}  # ∂C/∂a's rounding, signed
        for ly in reversed(spec.layers):
            i = ly.index
            z, _, a, _ = seen[i]
            err = pending.pop(i)
            with np.errstate(all="ignore"):
                if slopes[i] is not None:
                    noise = scale * slopes[i]
                    e_delta = ly.act.vjp(err, z, a, ly.unit_axis(conv)) + noise * signs(noise.shape)
                else:
                    e_delta = err
            finite = np.isfinite(e_delta)
            delta = seen[i][1]
            overflowed |= bool(np.any(~finite & (True if delta is None else np.isfinite(delta))))  # δ itself finite
            e_delta = np.where(finite, e_delta, 0.0)
            carried, err = ly.backward(e_delta, fw.a_in[i], params[i], conv, spec.bias)
            if err is not None:
                pass_back(pending, ly, _signed(err, _scaled(own_da[i], scale, ly.multi_input), signs, ly.multi_input))
            for key, v in carried.items():
                spread[i][key].add(v if draws is not None else v[None])
    return spread, overflowed


def _scaled(own, scale, multi):
    if scale == 1.0 or own is None:
        return own
    return [scale * o for o in own] if multi else scale * own


def _unbounded(rounding):
    """An allowance that overflowed (inf − inf, inf·0: weights of 1e199) as what it is, no bound at all: inf, not
    NaN, which would fail every comparison it joins, the element's own within rtol too."""
    return np.where(np.isnan(rounding), np.inf, rounding)


def _input_rounding(ly, fw, params, magnitudes, spec, size, local, rounded):
    """Add to ``local`` (layer ``ly``'s local part, in place) what the rounding of its input moves its gradients
    by, where a layer below magnified that rounding (:meth:`~gradcheck.catalogue.layers.base.Layer.output_rounding`,
    carried up through layers without params); return the rounding of ``ly``'s own output (None: ε·|a| only).
    A correct backprop runs its own forward pass: its x̂ of a norm over values alike is its own rounding, and the
    gradients of the weights above multiply it."""
    conv, bias, i = spec.conv, spec.bias, ly.index
    below = ly.inputs[0] if len(ly.inputs) == 1 else -1
    err, out = (rounded[below] if below >= 0 else None), None
    with np.errstate(all="ignore"):
        if err is not None and ly.cache_linear:
            moved, _ = ly.backward_magnitude(size, _magnitude(ly.forward(magnitudes, err, conv, bias)[1]), magnitudes,
                                             conv, bias)
            still, _ = ly.backward_magnitude(size, _magnitude(ly.forward(magnitudes, 0 * err, conv, bias)[1]),
                                             magnitudes, conv, bias)
            for key in local:
                extra = np.abs(moved[key] - still[key])
                local[key] = local[key] + np.where(np.isfinite(extra), extra, 0.0)
        elif err is not None and not ly.param_shapes(conv, bias):  # flatten, pooling, dropout, activation: carried
            out = np.abs(ly.forward(magnitudes, err, conv, bias)[0])
            if ly.has_activation:
                slope = ly.act.derivative(fw.z[i], fw.a[i]) if ly.act.derivative is not None else np.inf
                out = np.abs(out * slope)
            out = out if np.all(np.isfinite(out)) else None
    own = ly.output_rounding(fw.a_in[i], params, fw.a_prev(ly), conv)
    return own if out is None else out if own is None else out + own


class _Spread:
    """The draws of one gradient, and their root mean square element by element.

    Squared as they come, a rounding of 1e-179 (a gradient that is all rounding, far below the weights it came
    through) underflows to 0, and one of 1e155 overflows: such elements are scaled by their largest draw first.

    >>> s = _Spread(); s.add(np.array([[3e-180, 1.0], [4e-180, 0.0]])); s.rms(2) * np.sqrt(2)
    array([5.e-180, 1.e+000])
    """

    #: Sums of squares in [LOW, HIGH] are good to rounding as computed: the largest square in them is a normal
    #: number, and what the subnormal ones lose is below 2⁻⁵⁰ of it.
    LOW, HIGH = 2.0**-960, 2.0**1020

    def __init__(self):
        self.stacks, self.total = [], 0.0

    def add(self, stack):
        """Count the draws of ``stack`` (draws, *shape)."""
        self.stacks.append(stack)
        with np.errstate(over="ignore"):  # an overflowing square is seen in rms, and run again scaled down
            self.total = self.total + np.square(stack).sum(axis=0)

    def rms(self, draws):
        """The root mean square over ``draws`` draws."""
        out = np.sqrt(self.total / draws)
        odd = ~((self.total >= self.LOW) & (self.total <= self.HIGH))
        if odd.any():
            part = np.abs(np.concatenate([v[:, odd] for v in self.stacks]))
            top = part.max(axis=0)
            with np.errstate(invalid="ignore"):
                scaled = top * np.sqrt(np.square(part / np.where(top > 0, top, 1.0)).sum(axis=0) / draws)
            out[odd] = np.where(np.isinf(top), np.inf, scaled)  # a draw that overflowed: no bound
        return out


class _Signs:
    """The signs of one pass of draws: ``signs(shape)`` is ±1 at random for each draw of the stack ``lead`` in front
    (none: one draw), and +1 everywhere in the first draw where ``coherent``."""

    def __init__(self, rng, lead, coherent):
        self.rng, self.lead, self.coherent = rng, lead, coherent

    def __call__(self, shape):
        out = random_signs(self.rng, self.lead + tuple(shape))
        if self.coherent:
            out[0 if self.lead else ...] = 1.0
        return out


def _signed(err, own_da, signs, multi):
    """The carried error plus this layer's own rounding of ∂C/∂a_prev, signed by ``signs`` (one per input)."""
    if multi:
        return [e + np.abs(o) * signs(np.shape(o)) for e, o in zip(err, own_da)]
    return err + np.abs(own_da) * signs(np.shape(own_da))


#: A low-precision backprop's rounding is allowed this many times what the reference, run in that precision, shows.
LOW_PRECISION_RUNS = 8


def low_precision_rounding(spec, params, X, Y, dtype=np.float32):
    """Per element (dicts shaped like params), how far a correct backprop that computes in ``dtype`` (forward and
    backward) may be from the float64 one: the reference run in ``dtype`` twice (as given, and with every param
    one of its ulps larger, so that a lucky rounding of one element does not decide), the larger difference, times
    :data:`LOW_PRECISION_RUNS`. Measured, not modelled: in float32 a forward pass's rounding reaches the gradients
    through every saturated unit and cancelling sum, far beyond the float64 estimate scaled by ε₃₂/ε₆₄."""
    _, exact = backprop(spec, params, X, Y)
    out = [{key: np.zeros(np.shape(v)) for key, v in layer.items()} for layer in exact]
    eps = float(np.finfo(dtype).eps)
    for nudge in (0.0, eps):
        low = [{key: (np.asarray(v) * (1 + nudge)).astype(dtype) for key, v in p.items()} for p in params]
        with np.errstate(all="ignore"):
            _, grads = backprop(spec, low, np.asarray(X).astype(dtype), np.asarray(Y).astype(dtype))
        for o, g, e in zip(out, grads, exact):
            for key in o:
                diff = np.abs(np.asarray(g[key], dtype=np.float64) - e[key])
                o[key] = np.maximum(o[key], np.where(np.isfinite(diff), diff, np.inf))
    return [{key: LOW_PRECISION_RUNS * v for key, v in layer.items()} for layer in out]
