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

import math
import time
import warnings

import numpy as np

from ..diagnose.linetrace import compare_with_reference, trace_call
from ..diagnose.network import diagnose_tensor
from ..errors import describe_exception
from ..judge.compare import ATOL, RTOL, TensorCheck, low_precision
from ..judge.outcome import CheckResult
from ..judge.subgradient import Along, element_wrong, joint_test
from ..judge.tolerances import tolerance
from ..numeric.function import Settings, kink_aware_gradient_at
from ..numeric.sampled import DIRECTIONS, FULL_SECONDS, SAMPLE, check_mode, choose_elements, directions, stencil_along
from ..numeric.stencils import STEP_SCALE, flatten, unflatten
from ..usercode import calls

__all__ = ["check_function", "assert_function", "check_layer", "assert_layer"]

#: Salt for dout's random stream, so that dout never equals data a test drew from default_rng(seed).
_DOUT_STREAM = 0xD0D7


# -- public API -------------------------------------------------------------------------

def check_function(f, grad, x, *, rtol=RTOL, atol=ATOL, method="auto", step=None, name=None, mode="auto",
                   sample=SAMPLE, directions=DIRECTIONS) -> CheckResult:
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
    kind, names, arrays, rebuild = calls.inputs("check_function", x)
    label = name or calls.label(f, "function")
    problems, analytic, tensor_problems = [], [None] * len(arrays), {}
    float32 = False  # judged by the gradient's own dtype, not x's
    both = grad is None  # f returns (loss, grad), as CS231n's softmax_loss does
    who = "f" if both else "grad"
    try:
        out = f(rebuild([a.copy() for a in arrays])) if both else grad(rebuild([a.copy() for a in arrays]))
        if both:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise calls.NotScalarError(f"grad=None means f returns (loss, grad); f returned {type(out).__name__}"
                                      + (f" of {len(out)}" if isinstance(out, tuple) else ""))
            out = out[1]
    except (Exception, SystemExit) as e:
        problems.append(str(e) if isinstance(e, calls.NotScalarError) else f"{who} raised {describe_exception(e)}")
        tensor_problems = {nm: f"{nm}: no analytic gradient ({who} failed, see above)" for nm in names}
    else:
        float32 = low_precision(out)
        analytic, tensor_problems, structure = calls.gradients(out, x, names, arrays, who, kind)
        problems += structure

    def loss(arrs):
        value = f(rebuild(arrs))
        return value[0] if both and isinstance(value, tuple) else value

    return _run(label, loss, arrays, names, analytic, tensor_problems, problems,
                rtol=rtol, atol=atol, method=method, step=step, f_label="f", extra={"x": x}, float32=float32,
                modes=(mode, sample, directions))


def assert_function(f, grad, x, **kwargs) -> CheckResult:
    """Like :func:`check_function`, but raise ``AssertionError(str(result))`` when it fails."""
    __tracebackhide__ = True
    result = check_function(f, grad, x, **kwargs)
    if not result.passed:
        raise AssertionError(str(result))
    return result


def check_layer(forward, backward, x, *params, rtol=RTOL, atol=ATOL, seed=0, method="auto", step=None,
                names=None, name=None, trace_code=True, mode="auto", sample=SAMPLE,
                directions=DIRECTIONS) -> CheckResult:
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
    line whose shape is none of the inputs' or dout's join the diagnosis.

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
    inputs = [x, *params]
    is_array = [i == 0 or isinstance(p, np.ndarray) for i, p in enumerate(inputs)]
    arrays = []
    for i, (v, arr) in enumerate(zip(inputs, is_array)):
        if arr:
            arrays.append(calls.to_float(v, "check_layer", "x" if i == 0 else f"params[{i - 1}]"))
    names = calls.layer_names(forward, is_array, names)
    label = name or calls.label(forward, "layer")

    def call(arrs):
        it = iter(arrs)
        args = [next(it) if arr else v for v, arr in zip(inputs, is_array)]
        return forward(*args)

    problems, analytic, tensor_problems = [], [None] * len(arrays), {}
    dout, float32, f_float32 = None, False, False
    try:
        res = call([a.copy() for a in arrays])
        out, cache = calls.split_forward(res)
        f_float32 = low_precision(np.asarray(out))
        out = np.asarray(out, dtype=np.float64)
    except (Exception, SystemExit) as e:
        problems.append(f"forward raised {describe_exception(e)}")
    else:
        dout = np.random.default_rng([seed, _DOUT_STREAM]).standard_normal(out.shape)
        if cache is None:
            it = iter([a.copy() for a in arrays])
            cache = tuple(next(it) if arr else v for v, arr in zip(inputs, is_array))
        try:
            grads = backward(dout.copy(), cache)
        except (Exception, SystemExit) as e:
            problems.append(f"backward raised {describe_exception(e)}")
            tensor_problems = {nm: f"d{nm}: no analytic gradient (backward failed, see above)" for nm in names}
        else:
            if len(arrays) == 1 and not isinstance(grads, (tuple, list)):
                grads = (grads,)
            float32 = low_precision(grads)  # the gradients' own dtype, not the inputs'
            analytic, tensor_problems, structure = calls.gradients(grads, None, names, arrays, "backward", "layer",
                                                              out_shape=dout.shape)
            problems += structure

    def loss(arrs):
        o, _ = calls.split_forward(call(arrs))
        o = np.asarray(o)
        o = o if np.iscomplexobj(o) else o.astype(np.float64)
        if o.shape != dout.shape:
            raise ValueError(f"forward's output changed shape from {dout.shape} to {o.shape}")
        return np.sum(o * dout)

    result = _run(label, loss, arrays, names, analytic, tensor_problems, problems, rtol=rtol, atol=atol,
                  method=method, step=step, f_label="forward", extra={"dout": dout}, skip_numeric=dout is None,
                  float32=float32, f_float32=f_float32, modes=(mode, sample, directions))
    if trace_code and dout is not None and not result.passed:
        _, fresh = calls.split_forward(call([a.copy() for a in arrays]))
        if fresh is None:
            it = iter([a.copy() for a in arrays])
            fresh = tuple(next(it) if arr else v for v, arr in zip(inputs, is_array))
        known = [a.shape for a in arrays] + [dout.shape]
        lines = compare_with_reference(trace_call(backward, dout.copy(), fresh), [], dout.shape[0], known,
                                       unlike="none of the inputs' shapes or dout's")
        result.extra["line_trace"] = lines
        wrong = {f"d{t.name}": np.shape(t.values["analytic"]) for t in result.tensors
                 if t.values.get("analytic") is not None and np.shape(t.values["analytic"]) != t.shape}
        result.diagnosis += lines.sentences(wrong)
    return result


def assert_layer(forward, backward, x, *params, **kwargs) -> CheckResult:
    """Like :func:`check_layer`, but raise ``AssertionError(str(result))`` when it fails."""
    __tracebackhide__ = True
    result = check_layer(forward, backward, x, *params, **kwargs)
    if not result.passed:
        raise AssertionError(str(result))
    return result


# -- inputs and returned gradients ------------------------------------------------------


# -- the check ----------------------------------------------------------------------------


def _run(label, F, arrays, names, analytic, tensor_problems, problems, *, rtol, atol, method, step, f_label,
         extra, skip_numeric=False, float32=False, f_float32=False, modes=("full", SAMPLE, DIRECTIONS)):
    shapes = [a.shape for a in arrays]
    theta = flatten(arrays) if arrays else np.zeros(0)
    notes, failures = [], []
    f0, smooth_ok, eps = None, True, tolerance().eps
    if not skip_numeric:
        try:
            started = time.perf_counter()
            first = F([a.copy() for a in arrays])
            seconds = time.perf_counter() - started
            if f_float32 or low_precision(first):
                eps = tolerance("float32").eps
                notes.append(f"{f_label} computes in float32: the finite differences use float32-sized steps")
            f0 = calls.scalar(first, f_label)
            again = calls.scalar(F([a.copy() for a in arrays]), f_label)
        except (Exception, SystemExit) as e:
            problems.append(calls.failure(e, f_label, "at x itself, so there is no numeric gradient"))
        else:
            if not (again == f0 or (np.isnan(again) and np.isnan(f0))):
                smooth_ok = False
                problems.append(f"{f_label} is not deterministic: two calls at the same x gave {f0!r} and {again!r}; "
                                "fix the random seed inside it (e.g. a dropout mask) so every call computes "
                                "the same function")
            elif not np.isfinite(f0):
                problems.append(f"{f_label} returned {f0} at x itself; the numeric gradient is undefined there")

    chosen, found, joint, joint_notes = None, [], np.zeros(theta.size, dtype=bool), []
    if f0 is None:
        numeric, bound = np.full(theta.size, np.nan), np.zeros(theta.size)
        kinks, lost = np.zeros(theta.size, dtype=bool), np.zeros(theta.size, dtype=bool)
        analytic = [None] * len(arrays)  # nothing to compare with
    else:
        def f_batch(T):
            out = np.empty(len(T), dtype=T.dtype)
            for r in range(len(T)):
                try:
                    out[r] = calls.scalar(F(unflatten(T[r].copy(), shapes)), f_label, np.iscomplexobj(T))
                except (Exception, SystemExit) as e:
                    out[r] = np.nan
                    if not failures:
                        failures.append(calls.failure(e, f_label, "at a perturbed point"))
            return out

        usable = [np.ravel(a) if a is not None and a.shape == s else np.full(math.prod(s), np.nan)
                  for a, s in zip(analytic, shapes)]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NaN slopes where f failed: reported below
            flat_a = flatten(usable)
            chosen, found = _sampled(F, f_label, theta, shapes, flat_a, modes, seconds, rtol, notes)
            ka = kink_aware_gradient_at(chosen, f_batch, theta, f0, flat_a, Settings(method, step, rtol, atol, eps))
            numeric, bound, kinks, lost = ka.numeric, ka.bound, ka.kinks, ka.unresolved
            if not smooth_ok:
                kinks[:] = False
            elif kinks.any():  # the values at all kinks, tested together
                judged_rtol = tolerance("float32" if float32 else "float64").judged_rtol(rtol)
                joint, joint_notes = _joint(F, f_label, theta, shapes, names, f0, ka, flat_a, judged_rtol, atol, eps)

    tensors, at = [], 0
    for name, shape, a in zip(names, shapes, analytic):
        size = math.prod(shape)
        num = numeric[at:at + size].reshape(shape)
        kink = kinks[at:at + size].reshape(shape)
        err = bound[at:at + size].reshape(shape)
        mask = None if chosen is None else np.isin(np.arange(at, at + size), chosen).reshape(shape)
        at += size
        problem = tensor_problems.get(name)
        bad = ~np.isfinite(num) if mask is None else ~np.isfinite(num) & mask
        if f0 is not None and bad.any() and problem is None:
            why = f" ({failures[0]})" if failures else ""
            problem = (f"{name}: {f_label} is NaN/Inf or raised at x ± h for {int(bad.sum())} element(s) "
                       f"(first {calls.element(name, bad)}), so their numeric gradient is undefined; is x at the edge "
                       f"of {f_label}'s domain (log of 0, sqrt of a negative)?{why}")
        part = slice(at - size, at)
        tensors.append(TensorCheck(name, None, None, tuple(shape), {"analytic": a, "numeric": num}, ("analytic",),
                                   rtol, atol, kinks=kink, problem=problem, bound=err, float32=float32, mask=mask,
                                   unresolved=lost[part].reshape(shape),
                                   joint={"analytic": joint[part].reshape(shape)}))
    n_kinks = sum(t.n_kinks for t in tensors)
    if n_kinks:
        t = next(t for t in tensors if t.n_kinks)
        first = calls.element(t.name, t.kinks)
        notes.append(f"{n_kinks} element(s) sit where {f_label} is not differentiable (a kink, like |x| or relu at 0; "
                     f"first {first}): their one-sided derivatives differ. A value between them is reported as "
                     "'kink', not failed, and the values at all kinks were tested together along directions over "
                     "them (a sub- or supergradient as a vector)")
    if lost.any():
        notes.append(f"{int(lost.sum())} element(s) sit so close to where {f_label} is not differentiable that no "
                     f"step its rounding resolves stays clear of it: inconclusive where the value lies between the "
                     "slopes seen, wrong outside them")
    result = CheckResult(label, tensors, ("analytic", "numeric"), ("analytic",), rtol, atol, notes=notes,
                         problems=problems + [t.problem for t in tensors if t.problem],
                         diagnosis=joint_notes + [d for t in tensors if (d := diagnose_tensor(t))])
    result.extra.update(extra, f0=f0, mode="full" if chosen is None else "sampled", directions=found)
    return result


def _joint(F, f_label, theta, shapes, names, f0, ka, a, rtol, atol, eps):
    """(flat mask of the elements at kinks the joint test finds wrong, notes): see
    :func:`~gradcheck.judge.subgradient.joint_test`."""
    def line(idx, coef, ts):
        out = []
        for t in ts:
            x = theta.copy()
            x[idx] += t * coef
            try:
                out.append(calls.scalar(F(unflatten(x, shapes)), f_label))
            except (Exception, SystemExit):  # f failing along a direction: that test is skipped
                out.append(np.nan)
        return out

    starts = np.cumsum([0] + [math.prod(s) for s in shapes])

    def label(i):
        k = int(np.searchsorted(starts, i, side="right") - 1)
        index = np.unravel_index(int(i - starts[k]), shapes[k])
        return f"{names[k]}[{', '.join(str(int(j)) for j in index)}]" if shapes[k] else names[k]

    K = np.flatnonzero(ka.kinks)
    wrong = element_wrong(a, ka.numeric, ka.bound, ka.kinks, rtol, atol) | ~np.isfinite(a)
    found = joint_test(Along(line, f0, eps), theta, K, (ka.plus - ka.minus)[K], {"analytic": a},
                       {"analytic": 4 * eps * np.abs(a)}, {"analytic": rtol}, atol, {"analytic": wrong}, label)
    return found["analytic"]


def _sampled(F, f_label, theta, shapes, a, modes, seconds, rtol, notes):
    """(flat indices to check, or None for all; directions) for ``modes`` = (mode, sample, directions).

    auto checks every element when that takes about :data:`~gradcheck.numeric.sampled.FULL_SECONDS` at
    two calls of f each (the first call took ``seconds``).
    """
    mode, sample, count = modes
    check_mode(mode)
    if mode == "full" or (mode == "auto" and 2 * theta.size * seconds <= FULL_SECONDS):
        return None, []
    rng = np.random.default_rng(0x5A3)
    starts = np.cumsum([0] + [math.prod(s) for s in shapes])
    chosen = np.concatenate([choose_elements(s, sample, rng) + at for s, at in zip(shapes, starts)])
    h = STEP_SCALE * max(1.0, float(np.abs(theta).max(initial=0.0)))
    dd = stencil_along(lambda t, v: calls.scalar(F(unflatten(theta + t * v, shapes)), f_label), h)
    found = directions(dd, {"analytic": a}, tolerance().rounding(np.abs(a)), count, 0, rtol)
    for d in found:
        chosen = np.union1d(chosen, d.located.get("analytic", np.zeros(0, int)))
    bad = sum(1 for d in found if not all(d.agrees.values()))
    notes.append(f"sampled check: {len(chosen):,} of {theta.size:,} elements checked by finite differences "
                 f"(every row and column), and {len(found)} random directional derivatives over all elements"
                 + (f", {bad} of which disagree" if bad else ", all agreeing"))
    return chosen, found


