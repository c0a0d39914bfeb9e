"""The numeric gradient of a network: every element's finite difference, its error bound and its kinks.

    ∂C/∂θ_i ≈ g(h) = (C(θ + h_i e_i) − C(θ − h_i e_i)) / (2 h_i),   h_i = ε^{1/3} · max(1, |θ_i|)

ε^{1/3} (≈ 6e-6 in float64) balances the O(h²) truncation error against the O(ε/h)
rounding error; scaling by |θ_i| keeps the step relative for large parameters. The
divisor is the step actually taken, ``(θ+h) − (θ−h)``, not ``2h``, which differ by
rounding. Methods:

* ``central``: g(h);
* ``richardson`` (alias ``five-point``): (4·g(h) − g(2h))/3 at h = ε^{1/5}·max(1, |θ_i|),
  O(h⁴), good to ~1e-11 relative on smooth networks;

both with their steps chosen per element (:mod:`gradcheck.numeric.steps`): g(2h), g(h)
and g(h/2) first, then halving steps for the elements whose estimates are not yet in
the asymptotic regime (a feature of the loss narrower than h, a kink within the
step), each bound floored by the loss's rounding (:mod:`gradcheck.numeric.noise`);
* ``complex-step``: Im C(θ + i·h e_i)/h, exact to rounding where every operation is
  analytic (no relu, no max);
* ``auto``: :func:`best_method` for the network.

Each is a :class:`~gradcheck.numeric.methods.Method` of the registry
:data:`~gradcheck.numeric.methods.METHODS`.

For a network the perturbed networks are evaluated in memory-bounded stacks, forward
only, by :class:`~gradcheck.numeric.perturbed.Perturbed`, which recomputes only what each
perturbation changes. The same passes report *kinks*: elements whose perturbations,
however small, move some pre-activation z across a point where σ is not differentiable
(relu at 0), or change which element of a max-pooling window is the maximum, where a
finite difference is not a derivative.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..catalogue import LOSSES
from ..errors import OptionError
from . import methods
from .noise import layer_rounding
from .stencils import EPS, STEP_SCALE, combine, default_step, flatten, rounding_floor, unflatten
from .steps import FIRST, resolve

__all__ = ["EPS", "STEP_SCALE", "NumericGradient", "best_method", "complex_step_blockers", "flatten", "kinked",
           "numeric_gradient", "unflatten"]

@dataclass
class NumericGradient:
    """Finite-difference gradients in the params' layout, the kink flags, and the steps used."""

    grads: list
    kinks: list
    steps: list
    bounds: list
    method: str = "central"
    #: Per layer, the loss's rounding its error bounds allowed for (:func:`~gradcheck.numeric.noise.layer_noise`).
    noises: list = field(default_factory=list)
    #: Per layer, None or {param: :class:`~gradcheck.numeric.kinks.Sides`}: one-sided derivatives at kinks.
    sides: list | None = None
    #: Per layer, the part of :attr:`noises` measured at θ itself (the ±ulp probe and the first-order model): a
    #: floor under any element's rounding at its default or smaller steps (growing steps bounded by the element's
    #: own rounding, :func:`~gradcheck.numeric.again.grow_alone`, are kept only where the reference agrees).
    floors: list = field(default_factory=list)
    #: Per layer, {param: (value, bound)} at the default steps of the elements whose estimate was replaced by a
    #: second one (NaN elsewhere): from growing steps (:func:`grow_elements`), which assume a loss smooth at steps
    #: up to 0.4·max(1, |θ|), or with the loss's rounding measured along the element's own axis
    #: (:func:`refine_elements`), which a few points can underestimate, or both (:func:`grow_alone`); the default
    #: one assumes neither.
    replaced: list | None = None

    def at_default_steps(self, layer, key):
        """(value, bound) at the default steps of the elements of ``key`` in ``layer`` whose estimate was replaced
        by a second one (NaN elsewhere), or None where none was."""
        return None if self.replaced is None else self.replaced[layer].get(key)

    @property
    def noise(self):
        """The loss's rounding over all layers (the largest of :attr:`noises`)."""
        return max(self.noises, default=0.0)

    def __repr__(self):
        n = sum(int(k.sum()) for layer in self.kinks for k in layer.values())
        return f"NumericGradient({len(self.grads)} layers, {n} elements across a kink)"


def complex_step_blockers(spec):
    """The layers of ``spec`` the complex step cannot pass, each with the reason: ``layer 0 conv2d relu (a kink
    at 0)``, ``layer 1 maxpool2d (a max over each window)``; [] when every layer is analytic."""
    out = []
    for ly in spec.layers:
        what = f"layer {ly.index} {ly.kind}"
        passed = bool(ly.act.kinks) and ly.act.differentiable_kinks  # only a higher derivative jumps there
        if ly.act.kinks and not passed:
            at = ", ".join(f"{k:g}" for k in ly.act.kinks)
            out.append(f"{what} {ly.act.label} (a kink at {at})")
        elif ly.kinked and not passed:
            reduction = getattr(ly, "reduction", None)
            out.append(f"{what} (a {reduction} over each window)" if reduction else
                       f"{what} (not differentiable everywhere)")
        elif not ly.complex_step:
            out.append(f"{what} (its forward pass does not take complex numbers)")
    return out + loss_kinks(spec)


def loss_kinks(spec):
    """What of the loss itself is not differentiable everywhere, in words: ``loss svm (a max(0, ·) per class)``,
    ``the l1 term (a kink at W = 0)``; [] when it is smooth."""
    out = [f"loss {spec.loss} (a max(0, ·) per class)"] if LOSSES[spec.loss].kinked else []
    reg = spec.regularization
    return out + (["the l1 term (a kink at W = 0)"] if reg is not None and reg.kinked else [])


def best_method(spec):
    """The name of the most accurate method for ``spec`` (:func:`~gradcheck.numeric.methods.pick`).

    * Richardson extrapolation (h and 2h) where every layer is smooth: good to ~1e-11
      relative, for four real forward passes per element (complex-step is exact to
      rounding but its complex arithmetic costs more; ask for it by name);
    * else central differences: near a kink (relu at 0) a wider stencil crosses it more
      often. They are taken at h and 2h too, for the error bound.
    """
    return methods.pick(kinked(spec)).name


def kinked(spec):
    """True where some layer of ``spec``, or its loss, is not differentiable everywhere."""
    return any(ly.kinked for ly in spec.layers) or bool(loss_kinks(spec))


_SETTLED = []


def _settle_allocator():
    """Once per process, allocate and free one block of 4 MiB.

    glibc's malloc serves blocks above its mmap threshold (128 KiB at start) from fresh
    pages and gives them back on free, so every chunk of perturbed networks (a few MiB)
    would fault all its pages in again, which on some machines costs more than the
    arithmetic. Freeing one such block raises the threshold to its size (glibc adapts it
    up to 32 MiB), after which the chunks reuse the heap; arrays of a whole large network
    (above 4 MiB) still go back to the system when freed, so the peak stays where it was.
    Elsewhere this is one allocation, nothing more.
    """
    if not _SETTLED:
        _SETTLED.append(np.empty(4 * 2**20 // 8).size)  # allocated and freed at once: only the free matters


def numeric_gradient(spec, params, X, Y, *, step=None, method="auto", elements=None, progress=None, done=None,  # noqa: PLR0913
                     **evaluation) -> NumericGradient:
    """Finite-difference ∂C/∂θ for every param element (``params``: list of {"W", "b"}, {"gamma", "beta"},
    {} or {"mask"} dicts; masks are held fixed, not differentiated).

    Forward passes only, through the layer catalogue (see :mod:`gradcheck.numeric.perturbed`);
    ``evaluation`` is :class:`~gradcheck.numeric.perturbed.Perturbed`'s ``structured`` and ``lines``:
    ``structured`` (default True) recomputes only what each perturbation changes (the unit it touches,
    then the layers above); ``structured=False`` recomputes the perturbed layer in full
    (the plain mode); ``lines`` (default True) lets a dense layer take all its elements' losses from
    each unit's loss along its line (:mod:`gradcheck.numeric.unitlines`) where the
    layers above are analytic. ``elements``, if given, is a list with one dict per layer
    mapping a param name to the flat indices to check (sampled checks); the other elements get
    NaN. Returns the gradient, the error bound per element, kink flags and the steps.
    ``progress(done, total)`` is called as elements are finished. ``done``: the
    :class:`~gradcheck.reference.backprop.ReferencePass` of these params, if already made (its forward pass is
    the perturbed networks' base, and its δ and ∂C/∂a give the forward pass's rounding).
    """
    from .perturbed import Perturbed  # here, so the pytest plugin can load without NumPy's users

    name = methods.shown(method, kinked(spec))
    method = methods.lookup(method, kinked(spec))
    blockers = complex_step_blockers(spec) if method.complex else []
    if blockers:
        raise OptionError(f"{spec.source + ': ' if spec.source else ''}method {method.name} needs every layer to be "
                          f"analytic, and {' and '.join(blockers)} {'is' if len(blockers) == 1 else 'are'} not: "
                          "use method richardson or central")
    _settle_allocator()
    net = Perturbed(spec, params, X, Y, base=None if done is None else done.fw, **evaluation)
    # No difference is taken by a complex step: the loss's rounding does not enter.
    parts = [(0.0, 0.0)] * len(spec.layers) if method.complex else layer_rounding(
        net, seen=None if done is None else done.seen, step=method.step_scale)
    noises = [max(part) for part in parts]
    trainables = spec.param_shapes()
    todos = [_chosen(elements, i, list(trainable), params[i]) if elements is not None else
             np.arange(net.theta(i).size) for i, trainable in enumerate(trainables)]
    run = _Run(net, method, step, noises, (sum(len(t) for t in todos), progress))
    grads, kinks, steps, bounds, sides = [], [], [], [], []
    for i, found, at_kinks in run.layers(todos):
        shapes = [params[i][k].shape for k in trainables[i]]
        for out, part in zip((grads, bounds, kinks, steps), found):
            out.append(dict(zip(trainables[i], unflatten(part, shapes))))
        sides.append(at_kinks)
        net.close()  # nothing of layer i is asked again
    return NumericGradient(grads, kinks, steps, bounds, name, noises, sides, [floor for floor, _ in parts])


#: Consecutive layers whose elements each fit one stencil's chunk take their step levels together, up to this many
#: elements in all: one pass of the levels' bookkeeping instead of one per layer (most of a small network's).
GROUP_ELEMENTS = 2**16


class _Run:
    """One numeric gradient, layer by layer: ``tally`` is (elements in all, progress callback or None)."""

    def __init__(self, net, method, step, noises, tally):
        self.net, self.method, self.step, self.noises = net, method, step, noises
        self.total, self.progress = tally
        self.done = 0
        self.levels = step is None and method.per_element_steps

    def layers(self, todos):
        """(layer i, (gradient, bound, kinks, steps) flat, the one-sided derivatives at its kinks) of every layer in
        turn, estimated at the elements ``todos[i]`` (NaN elsewhere). Where the steps are chosen per element,
        consecutive layers whose elements fit one chunk each take their levels together (:meth:`together`)."""
        group = []
        for i, todo in enumerate(todos):
            joins = self.levels and 0 < len(todo) <= self._chunk(i)
            if not joins or sum(len(todos[k]) for k in group) + len(todo) > GROUP_ELEMENTS:
                yield from self.together(group, todos)
                group = []
            if joins:
                group.append(i)
            else:
                yield (i, *self.layer(i, todo))
        yield from self.together(group, todos)

    def _chunk(self, i):
        return max(1, self.net.chunk(i, self.method.itemsize) // (len(FIRST) if self.levels else self.method.points))

    def layer(self, i, todo):
        """((gradient, bound, kinks, steps) of layer i, flat, estimated at the elements ``todo`` (NaN elsewhere), the
        one-sided derivatives at its kinks)."""
        net, method, noise = self.net, self.method, self.noises[i]
        h = self._steps(i, todo)
        g, err, flags = np.full(h.size, np.nan), np.full(h.size, np.nan), np.zeros(h.size, bool)
        chunk = self._chunk(i)
        for start in range(0, len(todo), chunk):
            idx = todo[start:start + chunk]
            if self.levels:
                g[idx], err[idx], flags[idx], h[idx] = _levels(net, [(i, idx)], h[idx], method,
                                                               np.full(len(idx), noise))
            else:
                g[idx], err[idx], flags[idx] = _estimate(net, i, idx, h[idx], method, noise)
            self._tell(len(idx))
        return (g, err, flags, h), self._sides(i, todo, h, (g, err, flags))

    def together(self, layers, todos):
        """What :meth:`layer` gives, for each of ``layers`` (each within one chunk), their elements' step levels
        taken in one pass: every level's quotients, bounds and verdicts element by element, as each layer's own
        pass makes them (the same numbers), the stencils still one call per layer."""
        if not layers:
            return
        net, method = self.net, self.method
        steps = [self._steps(i, todos[i]) for i in layers]
        h = np.concatenate([step[todos[i]] for i, step in zip(layers, steps)])
        noise = np.concatenate([np.full(len(todos[i]), self.noises[i]) for i in layers])
        value, bound, kink, fine = _levels(net, [(i, todos[i]) for i in layers], h, method, noise)
        out, at = [], 0
        for i, step in zip(layers, steps):
            todo = todos[i]
            part = slice(at, at + len(todo))
            at += len(todo)
            g, err, flags = np.full(step.size, np.nan), np.full(step.size, np.nan), np.zeros(step.size, bool)
            g[todo], err[todo], flags[todo], step[todo] = value[part], bound[part], kink[part], fine[part]
            self._tell(len(todo))
            out.append((i, (g, err, flags, step), self._sides(i, todo, step, (g, err, flags))))
        yield from out  # every layer's sides made before the first is let go of (net.close)

    def _steps(self, i, todo):
        """Layer i's default steps, flat; said to its unit lines as the widest its elements ``todo`` will take."""
        net, method = self.net, self.method
        theta = net.theta(i)
        h = default_step(theta, method) if self.step is None else np.full(theta.shape, float(self.step))
        if self.levels and len(todo):  # the first stencil's widest step: no level after it goes wider
            net.expect(i, max(abs(o) for o in FIRST) * float(h[todo].max()))
        return h

    def _tell(self, finished):
        self.done += finished
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _sides(self, i, todo, h, estimate):
        """Elements whose step crossed a kink: smaller steps, or the one-sided derivatives of a kink at θ (a complex
        step never gets here: it refuses networks with kinks)."""
        from .kinks import resolve_layer

        if self.method.complex:
            return None
        return resolve_layer(self.net, i, todo, h, estimate, self.method, self.noises[i])


def _estimate(net, i, idx, h, method, noise=0.0):
    """(gradient, error bound, crossed a kink) of layer i's elements ``idx`` from one stencil at the steps ``h``
    (the steps a caller fixed, or complex step)."""
    values, crossed, taken = net.stencil(i, idx, h, method.offsets)
    g, err = combine(method, values, taken, h, noise=np.maximum(noise, net.line_miss(i, idx)))
    return g, err, crossed.any(axis=0)


def _levels(net, parts, h, method, noise):
    """(gradient, error bound, kink, fine step) of the elements of ``parts`` (a list of (layer i, its elements idx),
    one after the other), steps chosen per element (:func:`gradcheck.numeric.steps.resolve`) from the default steps
    ``h``, each bounded by its layer's ``noise`` (arrays over all the elements), or by what its losses from a unit's
    line may miss where that is more."""
    starts = np.cumsum([0] + [len(idx) for _, idx in parts])

    def stencil(at, s, offsets):  # ``at``: ascending indices into all the elements; one call per layer
        cuts = np.searchsorted(at, starts)
        got = [net.stencil(i, idx[at[lo:hi] - first], s[lo:hi], offsets)
               for (i, idx), first, lo, hi in zip(parts, starts, cuts, cuts[1:]) if hi > lo]
        return got[0] if len(got) == 1 else tuple(np.concatenate(x, axis=1) for x in zip(*got))

    allowed = []

    def floor(fmax, s, at):  # first asked after the first stencil: the lines it took from are fitted by then
        if not allowed:  # a loss from a unit's line may miss by its interpolant's error, beside its rounding
            allowed.append(np.maximum(noise, np.concatenate([net.line_miss(i, idx) for i, idx in parts])))
        return rounding_floor(fmax, s, noise=allowed[0][at])

    value, bound, kink, _, fine = resolve(stencil, h, method, floor, f0=net.loss)
    return value, bound, kink, fine


def _chosen(elements, i, keys, layer_params):
    """Flat indices into layer i's θ of the elements ``elements[i]`` names ({key: flat indices in that param})."""
    out, at = [], 0
    for key in keys:
        pick = np.asarray(elements[i].get(key, ()), dtype=int)
        out.append(pick + at)
        at += layer_params[key].size
    return np.concatenate(out) if out else np.zeros(0, dtype=int)
