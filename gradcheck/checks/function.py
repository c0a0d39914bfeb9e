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

from ..diagnose.intermediates import attach
from ..diagnose.linetrace import trace_call
from ..errors import describe_exception
from ..judge.bands import ATOL, RTOL, low_precision
from ..judge.outcome import CheckResult
from ..numeric.sampled import DIRECTIONS, SAMPLE
from ..usercode import autograd, calls, tensors
from ..usercode.objects import LayerObject, is_layer_object
from ..usercode.signature import Signature
from . import scalar
from .layer import Functions, LayerCheck
from .options import CheckOptions

__all__ = ["check_function", "assert_function", "check_layer", "assert_layer"]

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
    an array of x's flattened size). ``f`` is called three times per element (±h, and x + 2h for the error bound of
    an element that agrees), four times for elements that disagree (kink test and error bound; every element for
    "richardson"; more where their steps are chosen or refined, up to twenty-four of them to measure f's rounding
    along the element's own axis: at its default and chosen steps, and across a quarter of the chosen step; four
    within 1e-10 of x for an element whose differences bend, and sixteen more where f is flat there), plus twice at
    x itself (three times where its value may be a float32 number) and, without ``step``, twenty times to measure
    its rounding (on two lines, the usual one and one a thousand times finer): once per point, not vectorised.
    ``mode``, ``sample`` and ``directions`` are as in :func:`~gradcheck.checks.network.check_network`: "auto"
    samples when three calls per element would take more than about 2 s.

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


def check_layer(forward, backward=None, x=None, *args, rtol=RTOL, atol=ATOL, seed=0, method="auto",  # noqa: PLR0913
                step=None, names=None, name=None, trace_code=True, mode="auto", sample=SAMPLE,
                directions=DIRECTIONS, wrt=None, params=None, grads=None, explain=False,
                intermediates=None) -> CheckResult:
    """Check a layer's ``backward`` against finite differences of its ``forward``.

    ``forward(x, *params)`` returns ``out``, ``(out, cache)`` or ``(out_1, …, out_k, cache)``
    (CS231n's ``lstm_step_forward`` returns ``next_h, next_c, cache``); ``backward(dout_1, …,
    dout_k, cache)`` returns one gradient per differentiated input, in order, each with its
    input's shape (``dx`` alone is fine for one). When forward returns no cache, backward gets
    ``cache = (x, *params)``. Float arrays are differentiated; integer and boolean arrays (token
    ids, masks) and non-arrays (a ``conv_param`` dict, an int) are passed through untouched and
    get no gradient; ``wrt`` (names or positions of forward's arguments) says which are
    differentiated instead. To check a scalar parameter pass it as ``np.array(alpha)``.

    A layer object is checked as ``check_layer(layer, X)``: it has ``forward(X)`` and
    ``backward(dout)`` (returning dX), its parameters and their gradients in dicts at
    ``params``/``grads`` or ``parameters``/``gradients`` (or the attributes named by
    ``params=``/``grads=``; parameters with an entry among the gradients are the trainable
    ones when it has any). Every evaluation runs on a fresh deep copy; a forward whose result
    changes when it is called again on the same object is named in a note.

    A random ``dout`` of out's shape (seeded by ``seed`` on a stream of its own, so it
    never equals data drawn from ``default_rng(seed)``; kept in ``result.extra["dout"]``)
    turns the layer into the scalar ``L = Σ_k sum(out_k * dout_k)``, whose gradient is
    exactly what backward computes (the vector-Jacobian product). Tensors are named after forward's
    arguments (``x``, ``w``, ``b``, ``params[0]`` for ``*params``) unless ``names`` is given. An error
    raised in the user's code is reported at the user's own line.

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
    layer = _layer(forward, backward, x, args, names, wrt, params, grads)
    return attach(scalar.run(LayerCheck(layer).state(name, opts.seed), opts), intermediates, (x, *args))


def assert_layer(forward, backward=None, x=None, *args, **kwargs) -> CheckResult:
    """Like :func:`check_layer`, but raise ``AssertionError(str(result))`` when it fails."""
    __tracebackhide__ = True
    result = check_layer(forward, backward, x, *args, **kwargs)
    if not result.passed:
        raise AssertionError(str(result))
    return result


# -- what the user gave, as the scalar function the stages check -----------------------------

def _layer(forward, backward, x, args, names, wrt, params, grads):
    """A pair of functions, or a layer object (then ``backward`` holds its input X)."""
    if is_layer_object(forward):
        if wrt is not None:
            raise ValueError("check_layer: wrt= is for layer functions; a layer object's input and its params are "
                             "all differentiated")
        inputs = [v for v in (backward, x, *args) if v is not None]
        if not inputs:
            raise ValueError("check_layer(layer, X): the input X is missing")
        return LayerObject(forward, inputs, params, grads, names)
    if params is not None or grads is not None:
        raise ValueError("check_layer: params= and grads= name a layer object's dicts; forward is a function")
    if backward is None or x is None:
        raise ValueError("check_layer(forward, backward, x, *params): backward and x are missing "
                         "(or pass a layer object with forward and backward methods)")
    return Functions(forward, backward, Signature(forward, [x, *args], names, wrt))


def _function(f, grad, x, name):
    """The state of a function check: ``f`` of x's arrays, and ``grad``'s claim (or f's own, for grad=None)."""
    kind, names, arrays, rebuild = calls.inputs("check_function", tensors.to_numpy(x))
    given = list(x.values()) if isinstance(x, dict) else list(x) if kind == "sequence" else [x]
    if any(tensors.is_tensor(g) for g in given):  # the user's code gets tensors where tensors were given
        rebuild = _as_given(rebuild, given)
    both = grad is None  # f returns (loss, grad), as CS231n's softmax_loss does
    who = "f" if both else "grad"
    state = scalar.Scalar(name or calls.label(f, "function"), None, arrays, names, "f", carried={"x": x})
    try:
        out = f(rebuild([a.copy() for a in arrays])) if both else grad(rebuild([a.copy() for a in arrays]))
        out = tensors.to_numpy(out)
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
        state.analytic, state.tensor_problems, structure = calls.gradients(out, x, names, arrays, who, kind,
                                                                           returned=state.returned)
        state.problems += structure

    def loss(arrs):
        value = f(rebuild(arrs))
        return tensors.to_numpy(value[0] if both and isinstance(value, tuple) else value)

    state.F = loss
    state.retrace = lambda: trace_call(f if both else grad, rebuild([a.copy() for a in arrays]))
    if any(tensors.is_tensor(g) for g in given):
        state.autograd, why = autograd.function_vjp(f, arrays, given, rebuild, both)
        state.notes += [why] if why else []
    return state


def _as_given(rebuild, given):
    """``rebuild`` with each array as a tensor where the input was given as one."""
    return lambda arrs: rebuild([a if tensors.is_tensor(a) else tensors.like(a, g) for a, g in zip(arrs, given)])
