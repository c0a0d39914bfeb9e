"""Check any hand-written gradient against finite differences: a function, or a layer's backward.

Two styles are covered:

* :func:`check_function` — a scalar function ``f(x)`` and its gradient ``grad(x)``,
  where ``x`` is one array, a tuple/list of arrays or a dict of arrays;
* :func:`check_layer` — the ``forward(x, *params) -> (out, cache)`` /
  ``backward(dout, cache) -> (dx, dparam1, ...)`` pairs of course assignments
  (CS231n style), checked through the vector-Jacobian product with a random ``dout``.

Both return the same :class:`~gradcheck.judge.outcome.CheckResult` as a network check, so
the blame table, ``str`` and ``repr`` read the same. Finite differences come from
:func:`~gradcheck.numeric.network.central_difference`; ``f`` is called once per perturbed
point (generic code is not vectorised over a stack of points).

Kinks: where ``f`` is not differentiable (``|x|`` or relu at 0) a finite difference is
not a derivative. Differences at steps h and 2h then disagree far beyond their
O(h²) error; smaller steps clear a kink next to x (:func:`~gradcheck.numeric.function.kink_aware_gradient`),
and at a kink at x itself an element whose gradient lies between the one-sided
derivatives is reported as ``"kink"``, not failed, as long as the values at all kinks
pass their joint test as a sub- or supergradient (:mod:`gradcheck.judge.subgradient`).
The user's functions are called through :mod:`gradcheck.usercode.calls`; a tensor that is
wrong as a whole is explained by :func:`~gradcheck.diagnose.network.diagnose_tensor`.
"""

from __future__ import annotations

import numpy as np

from ..diagnose.against import compare_with_reference
from ..diagnose.intermediates import attach
from ..diagnose.linetrace import trace_call
from ..errors import describe_exception
from ..judge.compare import ATOL, RTOL, low_precision
from ..judge.outcome import CheckResult
from ..numeric.sampled import DIRECTIONS, SAMPLE
from ..usercode import calls
from . import scalar
from .options import CheckOptions

__all__ = ["check_function", "assert_function", "check_layer", "assert_layer"]

#: Salt for dout's random stream, so that dout never equals data a test drew from default_rng(seed).
_DOUT_STREAM = 0xD0D7


# -- public API -------------------------------------------------------------------------

def check_function(f, grad, x, *, rtol=RTOL, atol=ATOL, method="auto", step=None, name=None, mode="auto",  # noqa: PLR0913
                   sample=SAMPLE, directions=DIRECTIONS, explain=False, intermediates=None) -> CheckResult:
    """Compare ``grad(x)`` with finite differences of ``f`` at ``x``, element by element.

    ``x`` is one array (any shape), a tuple/list of arrays, or a dict name -> array
    (a tuple/list counts as several inputs only if it holds at least one ndarray;
    ``[1.0, 2.0]`` is one array). ``f`` receives the same structure as float64 copies
    and returns one number; ``grad`` receives it too and returns ∂f/∂x in the same
    structure, each array with the shape of its input. The tensors are named ``x``,
    ``x[0]``, ``x[1]``, ... or by the dict keys. A wrong shape, a NaN, a missing entry
    or an exception in ``f``/``grad`` is a ``problem`` line in the result, not an error.

    ``grad=None`` checks a function that returns both, ``f(x) -> (loss, dx)`` (CS231n's
    ``softmax_loss``): its loss is differentiated numerically and its dx is checked.

    ``method`` is "auto" (central differences), "central", "richardson" or "complex-step"
    (``f`` must then accept complex x); ``step`` overrides the default step (a number, or
    an array of x's flattened size). ``f`` is called twice per element, twice more only
    for elements that disagree (kink test and error bound; every element for
    "richardson"), plus twice at x itself: once per point, not vectorised. ``mode``,
    ``sample`` and ``directions`` are as in :func:`~gradcheck.checks.network.check_network`:
    "auto" samples when two calls per element would take more than about 2 s.

    ``explain=True`` runs ``grad`` (``f`` for grad=None) once more under the line tracer, pass or fail:
    ``result.line_trace`` holds its lines with the shapes of the arrays each made or wrote. A failing
    check is traced anyway. ``intermediates={name: (yours, reference)}`` compares arrays of your own
    computation with references (an array, or a callable called with ``x``) under the same tolerances;
    the first to differ leads the diagnosis (see :mod:`gradcheck.diagnose.intermediates`).

    >>> import numpy as np
    >>> x = np.array([1.0, -2.0, 3.0])
    >>> check_function(lambda x: np.sum(x ** 2), lambda x: 2 * x, x).passed
    True
    >>> def f(x):                       # x (3,) -> x0·x1 + x2²
    ...     return x[0] * x[1] + x[2] ** 2
    >>> def grad(x):                    # (3,): the 2 of d(x2²)/dx2 is missing
    ...     return np.array([x[1], x[0], x[2]])
    >>> r = check_function(f, grad, x)
    >>> r.passed, r.blame(1)[0].element, r.blame(1)[0].verdict
    (False, 'x[2]', 'wrong')
    >>> r
    <CheckResult f: FAILED, 1 tensors, max rel err 0.5, worst x[2] rel 0.5>
    """
    calls.check_method_argument("check_function", method)
    opts = CheckOptions(rtol=rtol, atol=atol, method=method, step=step, mode=mode, sample=sample,
                        directions=directions, explain=explain)
    return attach(scalar.run(_function(f, grad, x, name), opts), intermediates, (x,))


def assert_function(f, grad, x, **kwargs) -> CheckResult:
    """Like :func:`check_function`, but raise ``AssertionError(str(result))`` when it fails."""
    __tracebackhide__ = True
    result = check_function(f, grad, x, **kwargs)
    if not result.passed:
        raise AssertionError(str(result))
    return result


def check_layer(forward, backward, x, *params, rtol=RTOL, atol=ATOL, seed=0, method="auto", step=None,  # noqa: PLR0913
                names=None, name=None, trace_code=True, mode="auto", sample=SAMPLE,
                directions=DIRECTIONS, explain=False, intermediates=None) -> CheckResult:
    """Check a layer's ``backward`` against finite differences of its ``forward``.

    ``forward(x, *params)`` returns ``out`` or ``(out, cache)``; ``backward(dout, cache)``
    returns ``(dx, dparam1, ...)``, one gradient per *array* input, each with its
    input's shape (``dx`` alone is fine for a layer without params). When forward
    returns no cache, backward gets ``cache = (x, *params)``. Non-array params (a
    ``conv_param`` dict, an int) are passed through unchanged and get no gradient;
    to check a scalar parameter pass it as ``np.array(alpha)``.

    A random ``dout`` of out's shape (seeded by ``seed`` on a stream of its own, so it
    never equals data drawn from ``default_rng(seed)``; kept in ``result.extra["dout"]``)
    turns the layer into the scalar ``L = sum(forward(x, *params) * dout)``, whose
    gradient is exactly what backward computes (the vector-Jacobian product). Tensors are named after forward's
    arguments (``x``, ``w``, ``b``) unless ``names`` is given.

    When the check fails, ``trace_code`` runs ``backward`` once more under a line tracer
    (:mod:`gradcheck.diagnose.linetrace`): ``result.extra["line_trace"]`` holds the shape of every
    array after each of its lines; silent broadcasts and, for a wrong shape, the first
    line whose shape is none of the inputs' or dout's join the diagnosis. ``explain=True`` traces it
    even when the check passes. ``intermediates`` is as in :func:`check_function`; a callable reference
    is called with ``(x, *params)``.

    >>> import numpy as np
    >>> def affine_forward(x, w, b):          # x (N, D), w (D, M), b (M,) -> out (N, M)
    ...     return x @ w + b, (x, w, b)
    >>> def affine_backward(dout, cache):     # dout (N, M) -> dx (N, D), dw (D, M), db (M,)
    ...     x, w, b = cache
    ...     return dout @ w.T, x.T @ dout, dout.sum(axis=0)
    >>> rng = np.random.default_rng(0)
    >>> x, w, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    >>> check_layer(affine_forward, affine_backward, x, w, b).passed
    True
    >>> def wrong_backward(dout, cache):      # forgot to sum db over the batch
    ...     x, w, b = cache
    ...     return dout @ w.T, x.T @ dout, dout
    >>> print(check_layer(affine_forward, wrong_backward, x, w, b).problems[0])
    db: backward returned shape (4, 2), expected (2,) (the shape of b): one axis too many: sum over axis 0 (the batch)
    """
    calls.check_method_argument("check_layer", method)
    opts = CheckOptions(rtol=rtol, atol=atol, method=method, step=step, mode=mode, sample=sample,
                        directions=directions, seed=seed, trace_code=trace_code, explain=explain)
    return attach(scalar.run(_Layer(forward, backward, x, params, names).state(name, opts.seed), opts),
                  intermediates, (x, *params))


def assert_layer(forward, backward, x, *params, **kwargs) -> CheckResult:
    """Like :func:`check_layer`, but raise ``AssertionError(str(result))`` when it fails."""
    __tracebackhide__ = True
    result = check_layer(forward, backward, x, *params, **kwargs)
    if not result.passed:
        raise AssertionError(str(result))
    return result


# -- what the user gave, as the scalar function the stages check -----------------------------

def _function(f, grad, x, name):
    """The state of a function check: ``f`` of x's arrays, and ``grad``'s claim (or f's own, for grad=None)."""
    kind, names, arrays, rebuild = calls.inputs("check_function", x)
    both = grad is None  # f returns (loss, grad), as CS231n's softmax_loss does
    who = "f" if both else "grad"
    state = scalar.Scalar(name or calls.label(f, "function"), None, arrays, names, "f", carried={"x": x})
    try:
        out = f(rebuild([a.copy() for a in arrays])) if both else grad(rebuild([a.copy() for a in arrays]))
        if both:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise calls.NotScalarError(f"grad=None means f returns (loss, grad); f returned {type(out).__name__}"
                                           + (f" of {len(out)}" if isinstance(out, tuple) else ""))
            out = out[1]
    except (Exception, SystemExit) as e:
        why = str(e) if isinstance(e, calls.NotScalarError) else f"{who} raised {describe_exception(e)}"
        state.problems.append(why)
        state.tensor_problems = {nm: f"{nm}: no analytic gradient ({who} failed, see above)" for nm in names}
    else:
        state.float32 = low_precision(out)  # judged by the gradient's own dtype, not x's
        state.analytic, state.tensor_problems, structure = calls.gradients(out, x, names, arrays, who, kind)
        state.problems += structure

    def loss(arrs):
        value = f(rebuild(arrs))
        return value[0] if both and isinstance(value, tuple) else value

    state.F = loss
    state.retrace = lambda: trace_call(f if both else grad, rebuild([a.copy() for a in arrays]))
    return state


class _Layer:
    """A layer's forward and backward over its array inputs (x and the params that are arrays); the others
    (a ``conv_param`` dict, an int) pass through unchanged."""

    def __init__(self, forward, backward, x, params, names):
        self.forward, self.backward = forward, backward
        self.inputs = [x, *params]
        self.is_array = [i == 0 or isinstance(p, np.ndarray) for i, p in enumerate(self.inputs)]
        self.arrays = [calls.to_float(v, "check_layer", "x" if i == 0 else f"params[{i - 1}]")
                       for i, (v, arr) in enumerate(zip(self.inputs, self.is_array)) if arr]
        self.names = calls.layer_names(forward, self.is_array, names)
        self.dout = None

    def call(self, arrs):
        it = iter(arrs)
        return self.forward(*[next(it) if arr else v for v, arr in zip(self.inputs, self.is_array)])

    def cache(self, cache):
        """Forward's cache, or (x, *params) for a forward that returns none."""
        if cache is not None:
            return cache
        it = iter([a.copy() for a in self.arrays])
        return tuple(next(it) if arr else v for v, arr in zip(self.inputs, self.is_array))

    def loss(self, arrs):
        """L = sum(forward(x, *params) * dout): its gradient is what backward computes."""
        o, _ = calls.split_forward(self.call(arrs))
        o = np.asarray(o)
        o = o if np.iscomplexobj(o) else o.astype(np.float64)
        if o.shape != self.dout.shape:
            raise ValueError(f"forward's output changed shape from {self.dout.shape} to {o.shape}")
        return np.sum(o * self.dout)

    def state(self, name, seed):
        """The state of a layer check: forward and backward called once at x with a random dout."""
        state = scalar.Scalar(name or calls.label(self.forward, "layer"), self.loss, self.arrays, self.names,
                              "forward", retrace=self.retrace)
        try:
            out, cache = calls.split_forward(self.call([a.copy() for a in self.arrays]))
            state.f_float32 = low_precision(np.asarray(out))
            out = np.asarray(out, dtype=np.float64)
        except (Exception, SystemExit) as e:
            state.problems.append(f"forward raised {describe_exception(e)}")
        else:
            self.dout = np.random.default_rng([seed, _DOUT_STREAM]).standard_normal(out.shape)
            self._backward(state, self.cache(cache))
        state.skip_numeric = self.dout is None
        state.carried = {"dout": self.dout}
        return state

    def _backward(self, state, cache):
        try:
            grads = self.backward(self.dout.copy(), cache)
        except (Exception, SystemExit) as e:
            state.problems.append(f"backward raised {describe_exception(e)}")
            state.tensor_problems = {nm: f"d{nm}: no analytic gradient (backward failed, see above)"
                                     for nm in self.names}
            return
        if len(self.arrays) == 1 and not isinstance(grads, (tuple, list)):
            grads = (grads,)
        state.float32 = low_precision(grads)  # the gradients' own dtype, not the inputs'
        state.analytic, state.tensor_problems, structure = calls.gradients(grads, None, self.names, self.arrays,
                                                                           "backward", "layer",
                                                                           out_shape=self.dout.shape)
        state.problems += structure

    def retrace(self):
        """Backward run once more, from a fresh forward, under the line tracer."""
        _, fresh = calls.split_forward(self.call([a.copy() for a in self.arrays]))
        known = [a.shape for a in self.arrays] + [self.dout.shape]
        return compare_with_reference(trace_call(self.backward, self.dout.copy(), self.cache(fresh)), [],
                                      self.dout.shape[0], known, unlike="none of the inputs' shapes or dout's")
