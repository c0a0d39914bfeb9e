"""Check any hand-written gradient against finite differences: a function, or a layer's backward.

Two styles are covered:

* :func:`check_function` — a scalar function ``f(x)`` and its gradient ``grad(x)``,
  where ``x`` is one array, a tuple/list of arrays or a dict of arrays;
* :func:`check_layer` — the ``forward(x, *params) -> (out, cache)`` /
  ``backward(dout, cache) -> (dx, dparam1, ...)`` pairs of course assignments
  (CS231n style), checked through the vector-Jacobian product with a random ``dout``.

Both return the same :class:`~gradcheck.compare.CheckResult` as a network check, so
the blame table, ``str`` and ``repr`` read the same. Finite differences come from
:func:`~gradcheck.numeric.central_difference`; ``f`` is called once per perturbed
point (generic code is not vectorised over a stack of points).

Kinks: where ``f`` is not differentiable (``|x|`` or relu at 0) a finite difference is
not a derivative. Differences at steps h and 2h then disagree far beyond their
O(h²) error; an element there whose gradient lies between the one-sided slopes is
reported as ``"kink"`` and not judged.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings

import numpy as np

from .compare import ATOL, MARGIN, RTOL, CheckResult, TensorCheck, low_precision
from .diagnose_layers import kernel_flip_hint
from .errors import describe_exception
from .linetrace import compare_with_reference, trace_call
from .numeric import (
    CHUNK_BYTES,
    EPS,
    EPS32,
    METHOD_NAMES,
    ROUND_ULPS,
    STEP_SCALE,
    central_difference,
    default_step,
    error_bound,
    flatten,
    unflatten,
)
from .sampled import DIRECTIONS, FULL_SECONDS, SAMPLE, check_mode, choose_elements, directions, stencil_along

__all__ = ["check_function", "assert_function", "check_layer", "assert_layer"]

#: Relative disagreement between the h and 2h estimates that counts as "not smooth".
KINK_RTOL = 1e-3
#: Relative distance (in norm) under which two gradients count as the same.
_MATCH = 1e-6
#: Salt for dout's random stream, so that dout never equals data a test drew from default_rng(seed).
_DOUT_STREAM = 0xD0D7
#: Rounding in f, in units of eps·|f|/h, tolerated before calling a disagreement a kink.
NOISE_ULPS = 1e3


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
    ``sample`` and ``directions`` are as in :func:`~gradcheck.check.check_network`:
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
    _check_method("check_function", method)
    kind, names, arrays, rebuild = _inputs("check_function", x)
    label = name or _label(f, "function")
    problems, analytic, tensor_problems = [], [None] * len(arrays), {}
    float32 = low_precision(x)
    both = grad is None  # f returns (loss, grad), as CS231n's softmax_loss does
    who = "f" if both else "grad"
    try:
        out = f(rebuild([a.copy() for a in arrays])) if both else grad(rebuild([a.copy() for a in arrays]))
        if both:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise _NotScalarError(f"grad=None means f returns (loss, grad); f returned {type(out).__name__}"
                                      + (f" of {len(out)}" if isinstance(out, tuple) else ""))
            out = out[1]
    except (Exception, SystemExit) as e:
        problems.append(str(e) if isinstance(e, _NotScalarError) else f"{who} raised {describe_exception(e)}")
        tensor_problems = {nm: f"{nm}: no analytic gradient ({who} failed, see above)" for nm in names}
    else:
        float32 = float32 or low_precision(out)
        analytic, tensor_problems, structure = _gradients(out, x, names, arrays, who, kind)
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
    (:mod:`gradcheck.linetrace`): ``result.extra["line_trace"]`` holds the shape of every
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
    _check_method("check_layer", method)
    inputs = [x, *params]
    is_array = [i == 0 or isinstance(p, np.ndarray) for i, p in enumerate(inputs)]
    arrays = []
    for i, (v, arr) in enumerate(zip(inputs, is_array)):
        if arr:
            arrays.append(_to_float(v, "check_layer", "x" if i == 0 else f"params[{i - 1}]"))
    names = _layer_names(forward, is_array, names)
    label = name or _label(forward, "layer")

    def call(arrs):
        it = iter(arrs)
        args = [next(it) if arr else v for v, arr in zip(inputs, is_array)]
        return forward(*args)

    problems, analytic, tensor_problems = [], [None] * len(arrays), {}
    dout, float32, f_float32 = None, low_precision(inputs), False
    try:
        res = call([a.copy() for a in arrays])
        out, cache = _split_forward(res)
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
            float32 = float32 or low_precision(grads)
            analytic, tensor_problems, structure = _gradients(grads, None, names, arrays, "backward", "layer",
                                                              out_shape=dout.shape)
            problems += structure

    def loss(arrs):
        o, _ = _split_forward(call(arrs))
        o = np.asarray(o)
        o = o if np.iscomplexobj(o) else o.astype(np.float64)
        if o.shape != dout.shape:
            raise ValueError(f"forward's output changed shape from {dout.shape} to {o.shape}")
        return np.sum(o * dout)

    result = _run(label, loss, arrays, names, analytic, tensor_problems, problems, rtol=rtol, atol=atol,
                  method=method, step=step, f_label="forward", extra={"dout": dout}, skip_numeric=dout is None,
                  float32=float32, f_float32=f_float32, modes=(mode, sample, directions))
    if trace_code and dout is not None and not result.passed:
        _, fresh = _split_forward(call([a.copy() for a in arrays]))
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

def _check_method(fn, method):
    if method not in METHOD_NAMES:
        raise ValueError(f"{fn}: method={method!r}; expected one of {', '.join(map(repr, METHOD_NAMES))}")


def _label(fn, default):
    n = getattr(fn, "__name__", None)
    return n if n and n != "<lambda>" else default


def _to_float(value, fn, where):
    arr = np.asarray(value)
    if arr.dtype.kind == "c":
        raise TypeError(f"{fn}: {where} is complex; gradcheck checks real-valued functions of real inputs")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {where} must be a numeric array, got {type(value).__name__}"
                        + (f" of {arr.dtype}" if isinstance(value, np.ndarray) else "")
                        + "; pass numbers, e.g. np.array([...], dtype=float)")
    return np.array(arr, dtype=np.float64)


def _inputs(fn, x):
    """(kind, names, float64 arrays, rebuild) for one array, a tuple/list of arrays or a dict."""
    if isinstance(x, dict):
        keys = list(x)
        return ("dict", [str(k) for k in keys], [_to_float(x[k], fn, f"x[{k!r}]") for k in keys],
                lambda arrs: dict(zip(keys, arrs)))
    if isinstance(x, (tuple, list)) and any(isinstance(v, np.ndarray) for v in x):
        kind = type(x) if type(x) in (tuple, list) else tuple
        return ("sequence", [f"x[{i}]" for i in range(len(x))],
                [_to_float(v, fn, f"x[{i}]") for i, v in enumerate(x)], lambda arrs: kind(arrs))
    return "single", ["x"], [_to_float(x, fn, "x")], lambda arrs: arrs[0]


def _layer_names(forward, is_array, names):
    n = sum(is_array)
    if names is not None:
        names = [str(v) for v in names]
        if len(names) != n:
            raise ValueError(f"check_layer: names has {len(names)} entries, expected {n} "
                             "(x and one per array param)")
        return names
    try:
        sig = [p for p in inspect.signature(forward).parameters.values()
               if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        sig = []
    out = []
    for i, arr in enumerate(is_array):
        if arr:
            out.append(sig[i].name if i < len(sig) else ("x" if i == 0 else f"param{i}"))
    return out


def _split_forward(res):
    """forward's return value -> (out, cache or None)."""
    if isinstance(res, tuple):
        if len(res) != 2:
            raise TypeError(f"forward returned a tuple of {len(res)}; expected out or (out, cache)")
        return res
    return res, None


def _gradients(out, x, names, arrays, who, kind, out_shape=None):
    """What ``who`` returned -> (list of float arrays or None, {name: problem}, [structure problems]).

    ``kind`` is how the inputs were given: "single", "sequence", "dict" or "layer".
    """
    n = len(arrays)
    shown = ["d" + nm for nm in names] if kind == "layer" else names
    if kind == "dict":
        if not isinstance(out, dict):
            return [None] * n, {}, [f"{who} returned {type(out).__name__}; expected a dict with the keys of x "
                                    f"({', '.join(map(repr, x))})"]
        unexpected = [k for k in out if k not in x]
        structure = [f"{who} returned unexpected key(s) {', '.join(map(repr, unexpected))}; x has "
                     f"{', '.join(map(repr, x))}"] if unexpected else []
        entries = [out.get(k) for k in x]
    elif kind in ("sequence", "layer"):
        if not isinstance(out, (tuple, list)) or len(out) != n:
            got = f"{len(out)} values" if isinstance(out, (tuple, list)) else type(out).__name__
            want = (f"a tuple ({', '.join(shown)}): one gradient per array input of forward, in order"
                    if kind == "layer" else f"a {type(x).__name__} of {n} arrays, one per input x[0], x[1], ... "
                    "in order")
            return [None] * n, {}, [f"{who} returned {got}; expected {want}"]
        entries, structure = list(out), []
    else:
        entries, structure = [out], []
    analytic, problems = [], {}
    for name, label, got, ref in zip(names, shown, entries, arrays):
        arr, problem = _one_gradient(got, ref.shape, name, label, who, out_shape)
        analytic.append(arr)
        if problem:
            problems[name] = problem
    return analytic, problems, structure


def _one_gradient(got, shape, name, label, who, out_shape=None):
    """(float64 array or None, problem or None) for one returned gradient ``label`` of input ``name``."""
    if got is None:
        return None, f"{label}: {who} returned None; expected an array of shape {shape} (the shape of {name})"
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None, f"{label}: {who} returned {type(got).__name__}, not a numeric array of shape {shape}"
    if arr.shape != shape:
        hint = _shape_hint(arr.shape, shape, out_shape)
        return arr, (f"{label}: {who} returned shape {arr.shape}, expected {shape} (the shape of {name})"
                     f"{': ' + hint if hint else ''}")
    bad = ~np.isfinite(arr)
    if bad.any():
        return arr, (f"{label}: {int(bad.sum())} of {arr.size} elements {who} returned are NaN/Inf "
                     f"(first {_element(label, bad)})")
    return arr, None


def _element(name, mask):
    """``"x[1, 2]"`` for the first True of ``mask`` (``"x"`` for a 0-d mask)."""
    idx = np.argwhere(np.asarray(mask))[0]
    return f"{name}[{', '.join(str(int(i)) for i in idx)}]" if len(idx) else name


def _shape_hint(got, want, out_shape=None):
    """Why a gradient of shape ``got`` is not of shape ``want``; ``out_shape`` is dout's shape (layers only)."""
    if got != want and tuple(d for d in got if d != 1) == tuple(d for d in want if d != 1) and \
            len(got) > len(want):
        return (f"already summed, but with an extra axis of length 1 (keepdims=True?): drop it, "
                f".reshape({want}), or sum without keepdims")
    wrong_axes = _summed_axes(got, want, out_shape)
    if wrong_axes:
        return wrong_axes
    if len(got) == 2 and got == want[::-1]:
        return "it is the transpose (return .T, or swap the factors of the matrix product)"
    if len(got) == len(want) + 1 and got[1:] == want:
        return "one axis too many: sum over axis 0 (the batch)"
    if len(got) == len(want) + 1 and got[:-1] == want:
        return "one axis too many: sum over the last axis"
    if math.prod(got) == math.prod(want):
        return f"same number of elements, different layout: reshape to {want} (a flattened or column vector?)"
    return ""


def _summed_axes(got, want, out_shape):
    """"summed over the wrong axis …" when got and want both keep some of dout's axes, but different ones."""
    if out_shape is None or not got or len(got) != len(want) or len(got) >= len(out_shape):
        return ""

    def kept(shape):  # which axes of dout a sum that gives ``shape`` keeps (first match, in order)
        axes, start = [], 0
        for d in shape:
            hits = [ax for ax in range(start, len(out_shape)) if out_shape[ax] == d]
            if not hits:
                return None
            axes.append(hits[0])
            start = hits[0] + 1
        return axes

    k_got, k_want = kept(got), kept(want)
    if k_got is None or k_want is None or k_got == k_want:
        return ""
    summed = tuple(ax for ax in range(len(out_shape)) if ax not in k_want)
    axis = summed[0] if len(summed) == 1 else summed
    return (f"summed over the wrong axis: {got} keeps axis {', '.join(map(str, k_got))} of dout {tuple(out_shape)}; "
            f"sum over axis {axis} instead: dout.sum(axis={axis}) -> {want}")


def _failure(exc, who, where):
    """One line for an exception raised while evaluating ``who`` (``where``: "at x itself", ...)."""
    if isinstance(exc, _NotScalarError):
        return str(exc)
    return f"{who} raised {describe_exception(exc)} {where}"


class _NotScalarError(TypeError):
    """f returned something other than one number; the message is the whole story."""


def _scalar(value, who, complex_ok=False):
    if isinstance(value, tuple) and len(value) == 2 and np.ndim(value[0]) == 0 and np.ndim(value[1]) > 0:
        raise _NotScalarError(f"{who} returned a tuple (loss, grad), as CS231n's softmax_loss does; {who} must "
                              "return the loss alone: pass grad=None to check the grad it returns, or wrap it as "
                              "lambda x: softmax_loss(x, y)[0]")
    arr = np.asarray(value)
    if complex_ok and arr.dtype.kind == "c" and arr.size == 1:
        return complex(arr.reshape(()))
    if arr.dtype.kind not in "biuf":
        raise _NotScalarError(f"{who} must return one number (the loss), got {type(value).__name__}")
    if arr.size != 1:
        raise _NotScalarError(f"{who} must return one number (the loss), got an array of shape {arr.shape}: "
                        "return its sum or mean")
    return float(arr.reshape(()))


# -- the check ----------------------------------------------------------------------------

class _Probe:
    """Wraps f_batch; remembers, for every perturbed point, which element moved, by how much, and f there."""

    def __init__(self, f_batch, theta):
        self.f_batch, self.theta = f_batch, theta
        self.elem, self.off, self.values = [], [], []

    def __call__(self, T):
        values = self.f_batch(T)
        diff = T - self.theta
        elem = np.abs(diff).argmax(axis=1)
        self.elem.append(elem)
        self.off.append(diff[np.arange(len(T)), elem])
        self.values.append(values)
        return values

    def slopes(self, f0):
        """One-sided slopes (f(x+h) − f(x))/h and (f(x) − f(x−h))/h per element, and max |f| seen."""
        d = self.theta.size
        elem, off, values = (np.concatenate(v) for v in (self.elem, self.off, self.values))
        up, down = np.full(d, np.nan), np.full(d, np.nan)
        fmax = np.full(d, abs(f0))
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (values - f0) / off
        up[elem[off > 0]] = s[off > 0]
        down[elem[off < 0]] = s[off < 0]
        np.maximum.at(fmax, elem, np.abs(values))
        return up, down, fmax


def _run(label, F, arrays, names, analytic, tensor_problems, problems, *, rtol, atol, method, step, f_label,
         extra, skip_numeric=False, float32=False, f_float32=False, modes=("full", SAMPLE, DIRECTIONS)):
    shapes = [a.shape for a in arrays]
    theta = flatten(arrays) if arrays else np.zeros(0)
    notes, failures = [], []
    f0, smooth_ok, eps = None, True, EPS
    if not skip_numeric:
        try:
            started = time.perf_counter()
            first = F([a.copy() for a in arrays])
            seconds = time.perf_counter() - started
            if f_float32 or low_precision(first):
                eps, float32 = EPS32, True
                notes.append(f"{f_label} computes in float32: the finite differences use float32-sized steps")
            f0 = _scalar(first, f_label)
            again = _scalar(F([a.copy() for a in arrays]), f_label)
        except (Exception, SystemExit) as e:
            problems.append(_failure(e, f_label, "at x itself, so there is no numeric gradient"))
        else:
            if not (again == f0 or (np.isnan(again) and np.isnan(f0))):
                smooth_ok = False
                problems.append(f"{f_label} is not deterministic: two calls at the same x gave {f0!r} and {again!r}; "
                                "fix the random seed inside it (e.g. a dropout mask) so every call computes "
                                "the same function")
            elif not np.isfinite(f0):
                problems.append(f"{f_label} returned {f0} at x itself; the numeric gradient is undefined there")

    chosen, found = None, []
    if f0 is None:
        numeric, bound = np.full(theta.size, np.nan), np.zeros(theta.size)
        kinks = np.zeros(theta.size, dtype=bool)
        analytic = [None] * len(arrays)  # nothing to compare with
    else:
        def f_batch(T):
            out = np.empty(len(T), dtype=T.dtype)
            for r in range(len(T)):
                try:
                    out[r] = _scalar(F(unflatten(T[r].copy(), shapes)), f_label, np.iscomplexobj(T))
                except (Exception, SystemExit) as e:
                    out[r] = np.nan
                    if not failures:
                        failures.append(_failure(e, f_label, "at a perturbed point"))
            return out

        usable = [np.ravel(a) if a is not None and a.shape == s else np.full(math.prod(s), np.nan)
                  for a, s in zip(analytic, shapes)]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NaN slopes where f failed: reported below
            flat_a = flatten(usable)
            chosen, found = _sampled(F, f_label, theta, shapes, flat_a, modes, seconds, rtol, notes)
            numeric, bound, kinks = _numeric_at(chosen, f_batch, theta, f0, flat_a, method, step, rtol, atol, eps)
        if not smooth_ok:
            kinks[:] = False

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
                       f"(first {_element(name, bad)}), so their numeric gradient is undefined; is x at the edge of "
                       f"{f_label}'s domain (log of 0, sqrt of a negative)?{why}")
        tensors.append(TensorCheck(name, None, None, tuple(shape), {"analytic": a, "numeric": num}, ("analytic",),
                                   rtol, atol, kinks=kink, problem=problem, bound=err, float32=float32, mask=mask))
    n_kinks = sum(t.n_kinks for t in tensors)
    if n_kinks:
        t = next(t for t in tensors if t.n_kinks)
        first = _element(t.name, t.kinks)
        notes.append(f"{n_kinks} element(s) sit where {f_label} is not differentiable (a kink, like |x| or relu at 0; "
                     f"first {first}): differences at steps h and 2h disagree and your gradient lies "
                     "between the one-sided slopes; where it differs from the numeric value it is reported as "
                     "'kink', not judged")
    result = CheckResult(label, tensors, ("analytic", "numeric"), ("analytic",), rtol, atol, notes=notes,
                         problems=problems + [t.problem for t in tensors if t.problem],
                         diagnosis=[d for t in tensors if (d := _diagnose(t))])
    result.extra.update(extra, f0=f0, mode="full" if chosen is None else "sampled", directions=found)
    return result


def _sampled(F, f_label, theta, shapes, a, modes, seconds, rtol, notes):
    """(flat indices to check, or None for all; directions) for ``modes`` = (mode, sample, directions).

    auto checks every element when that takes about :data:`~gradcheck.sampled.FULL_SECONDS` at
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
    dd = stencil_along(lambda t, v: _scalar(F(unflatten(theta + t * v, shapes)), f_label), h)
    found = directions(dd, {"analytic": a}, 4 * EPS * np.abs(a), count, 0, rtol)
    for d in found:
        chosen = np.union1d(chosen, d.located.get("analytic", np.zeros(0, int)))
    bad = sum(1 for d in found if not all(d.agrees.values()))
    notes.append(f"sampled check: {len(chosen):,} of {theta.size:,} elements checked by finite differences "
                 f"(every row and column), and {len(found)} random directional derivatives over all elements"
                 + (f", {bad} of which disagree" if bad else ", all agreeing"))
    return chosen, found


def _numeric_at(chosen, f_batch, theta, f0, a, method, step, rtol, atol, eps):
    """:func:`_numeric` on the elements ``chosen`` only (all if None); NaN elsewhere."""
    if chosen is None:
        return _numeric(f_batch, theta, f0, a, method, step, rtol, atol, eps)

    def sub_batch(T):  # f at points that move only the chosen elements
        full = np.repeat(theta[None, :], len(T), axis=0).astype(T.dtype)
        full[:, chosen] = T
        return f_batch(full)

    step = None if step is None else np.broadcast_to(np.asarray(step, float), theta.shape)[chosen]
    numeric, bound, kinks = np.full(theta.size, np.nan), np.zeros(theta.size), np.zeros(theta.size, dtype=bool)
    numeric[chosen], bound[chosen], kinks[chosen] = _numeric(sub_batch, theta[chosen], f0, a[chosen], method, step,
                                                             rtol, atol, eps)
    return numeric, bound, kinks


def _diagnose(t):
    """One sentence for a tensor whose values are wrong as a whole (transposed, a constant factor), or ""."""
    a, n = t.values["analytic"], t.values["numeric"]
    if t.passed or t.problem or a is None or np.shape(a) != np.shape(n) or not np.all(np.isfinite(n)):
        return ""
    norm = float(np.linalg.norm(n))

    def close(u, v):
        return float(np.linalg.norm(u - v)) <= _MATCH * max(norm, 1e-300)

    if a.ndim == 2 and a.shape[0] == a.shape[1] and close(a.T, n) and not close(a, n):
        return f"{t.name}: your gradient is the transpose of the numeric one (return .T, or swap the factors " \
               "of the matrix product)"
    flipped = kernel_flip_hint(t.name, a, n, close)
    if flipped:
        return flipped
    if norm > 0:
        c = float(np.vdot(a, n)) / norm ** 2
        if abs(c - 1) > 1e-6 and close(a, c * n):
            what = ("the sign is flipped (minus the gradient)" if abs(c + 1) < 1e-6
                    else f"every element is {c:.6g} × the true value")
            return f"{t.name}: {what}: a constant factor, not a local mistake"
    return ""


def _numeric(f_batch, theta, f0, a, method, step, rtol, atol, eps=EPS):
    """(numeric gradient, error bound, kink flags), flat over all inputs; ``a`` is the flat analytic gradient.

    Central differences at h cost two calls of f per element. Only the elements whose
    analytic value disagrees beyond the rounding bound get two more calls at 2h, which
    give the truncation estimate |g(h) − g(2h)| and the kink test (all of them for
    "richardson", which extrapolates from both). ``eps`` is the precision f computes in.

    Kinks: central differences at h and 2h, g(h) and g(2h), agree to O(h²) where f is
    smooth; so do the one-sided slope gaps w(h) = s₊(h) − s₋(h) ≈ f''·h and w(2h) ≈ 2·w(h).
    A kink within 2h breaks at least one of the two (each is blind at one offset).
    """
    d = theta.size
    if d == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    chunk = max(1, CHUNK_BYTES // (8 * 4 * d))
    base = "central" if method in ("auto", "central", "richardson", "five-point") else method
    if step is not None:
        h = np.broadcast_to(np.asarray(step, float), theta.shape)
    else:
        h = default_step(theta, base if eps == EPS or base == "complex-step" else "central")
        if eps != EPS and base != "complex-step":
            h = h * (eps / EPS) ** (1 / 3)
        elif method in ("richardson", "five-point"):
            h = default_step(theta, "richardson")
    if base == "complex-step":
        g = central_difference(f_batch, theta, h, chunk, method="complex-step")
        return g, 4 * eps * np.abs(g), np.zeros(d, dtype=bool)
    p1 = _Probe(f_batch, theta)
    g1 = central_difference(p1, theta, h, chunk)
    up1, down1, fmax1 = p1.slopes(f0)
    noise = ROUND_ULPS * eps * fmax1 / h
    numeric, bound, kinks = g1.copy(), noise.copy(), np.zeros(d, dtype=bool)
    with np.errstate(invalid="ignore"):
        far = np.abs(a - g1) > rtol * np.maximum(np.abs(a), np.abs(g1)) + atol + MARGIN * noise
    idx = np.flatnonzero(far | np.isnan(g1)) if method not in ("richardson", "five-point") else np.arange(d)
    idx = idx[np.isfinite(a[idx])]
    if idx.size == 0:
        return numeric, bound, kinks

    def sub_batch(T):  # f at points that move only the elements ``idx``
        full = np.repeat(theta[None, :], len(T), axis=0)
        full[:, idx] = T
        return f_batch(full)

    p2 = _Probe(sub_batch, theta[idx])
    g2 = central_difference(p2, theta[idx], 2 * h[idx], chunk)
    up2, down2, fmax2 = p2.slopes(f0)
    g1, up1, down1, fmax1, noise = g1[idx], up1[idx], down1[idx], fmax1[idx], noise[idx]
    fmax = np.maximum(fmax1, fmax2)
    bound[idx] = error_bound(g1, g2, fmax, h[idx], eps)
    if method in ("richardson", "five-point"):
        numeric[idx] = (4 * g1 - g2) / 3
    slopes = np.stack([up1, down1, up2, down2])
    noise = NOISE_ULPS * eps * fmax / h[idx]
    with np.errstate(invalid="ignore"):
        metric = np.maximum(np.abs(g1 - g2), np.abs(2 * (up1 - down1) - (up2 - down2)))
        nonsmooth = metric > KINK_RTOL * np.maximum(np.abs(g1), np.abs(g2)) + noise + atol
        lo, hi = np.nanmin(slopes, axis=0), np.nanmax(slopes, axis=0)
        tol = atol + rtol * np.maximum(np.abs(lo), np.abs(hi)) + noise
        between = (a[idx] >= lo - tol) & (a[idx] <= hi + tol)
    kinks[idx] = nonsmooth & between
    return numeric, bound, kinks
