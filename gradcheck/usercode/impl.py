"""Load and call a user's backprop function (``--impl module:function`` or ``path/file.py:function``).

The function is called as ``fn(params, X, Y)``: params is a list with one
``{"W": ..., "b": ...}`` dict per layer (float64 copies; no "b" for bias none/augmented),
X and Y in the convention's layout (column: X (input, N), Y (K, N); row: X (N, input),
Y (N, K)). It returns the gradients of the spec's loss in the same structure: a list of
dicts, or a list of ``(dW, db)`` tuples (``(dW,)`` or a bare ``dW`` without b).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import inspect
import math
import sys
from pathlib import Path

import numpy as np

from ..errors import ImplError, describe_exception, suggest
from .forms import flatten_vectors, unpack
from .isolation import interrupts

__all__ = ["call_impl", "load_impl", "mask_for"]


def load_impl(target):
    """Return the callable named by ``"module:function"`` or ``"path/to/file.py:function"``.

    Raises :class:`ImplError` with one line saying what could not be found.
    """
    if callable(target):
        return target
    if not isinstance(target, str) or ":" not in target:
        raise ImplError(f"--impl {target!r}: expected 'module:function' or 'path/to/file.py:function'")
    where, _, name = target.rpartition(":")
    if not where or not name:
        raise ImplError(f"--impl {target!r}: expected 'module:function' or 'path/to/file.py:function'")
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = _from_file(target, where)
    else:
        module = _from_module(target, where, name)
    fn = getattr(module, name, None)
    if fn is None:
        public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise ImplError(f"--impl {target}: {where} has no function {name!r}{suggest(name, public)}")
    if not callable(fn):
        raise ImplError(f"--impl {target}: {name!r} is a {type(fn).__name__}, not a function")
    folder = getattr(module, "__gradcheck_folder__", None)
    if folder is None:
        return fn

    @functools.wraps(fn)
    def in_its_folder(*args, **kwargs):  # imports inside the function find its siblings too
        with _importable(folder):
            return fn(*args, **kwargs)

    return in_its_folder


def _from_file(target, where):
    """The module of the file ``where``, run with its folder importable."""
    path = Path(where)
    if not path.is_file():
        raise ImplError(f"--impl {target}: no such file {where}")
    mod_name = f"_gradcheck_impl_{abs(hash(str(path.resolve())))}"
    loader = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(loader)
    folder = str(path.resolve().parent)
    try:
        with _importable(folder):  # its siblings import as they do when the file runs as a script
            loader.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        raise ImplError(f"--impl {target}: importing {where} {_raised(e, str(path))}") from None
    module.__gradcheck_folder__ = folder
    return module


def _from_module(target, where, name):
    """The installed (or importable) module ``where``."""
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        raise ImplError(f"--impl {target}: no module named {e.name!r} (give a file path, "
                        f"e.g. path/to/{where.split('.')[-1]}.py:{name}, or install the module)") from None
    except (Exception, SystemExit) as e:
        raise ImplError(f"--impl {target}: importing {where} {_raised(e)}") from None


@contextlib.contextmanager
def _importable(folder):
    """Put ``folder`` first on sys.path for the duration (as ``python file.py`` does)."""
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


def _raised(exc, filename=None):
    """``raised ValueError: … (at file.py:3)``, or ``called sys.exit(5)``, for an exception from user code."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})" if exc.code is not None else "called sys.exit()"
    return f"raised {describe_exception(exc, filename)}"


def call_impl(fn, spec, params, X, Y, notes=None, extras=None):
    """Call ``fn(params, X, Y)`` on copies; return (grads, problems).

    ``fn`` may also return ``{"grads": [...], "delta": [...], "a": [...], "loss": C}`` (the last three
    optional): its own intermediates, put in ``extras["intermediates"]`` to be compared with the
    reference's. A gradient of a vector parameter returned as a (1, n) row or (n, 1) column (numpy-ml keeps
    b as (1, n)) is read as (n,), with a note, so that its values are compared; ``extras["reshaped"]``
    maps its name to the shape returned, which stays a problem of the tensor.

    ``grads`` is a list of dicts like ``params`` where a missing or unusable entry is
    ``None``; ``problems`` maps ``"W0"``-style names (``""`` for the whole call, ``"dw0"`` for
    a key ``dw`` of layer 0 that no parameter has) to a one-line description. Nothing the
    function does escapes as an exception, not even ``sys.exit`` or a KeyboardInterrupt
    that no Ctrl-C caused. Two common return shapes are recognised and named:

    * Nielsen's ``(nabla_b, nabla_w)`` pair (biases first, each a list over layers) is
      accepted when its shapes leave no doubt, with a line in ``notes`` saying so
      (``nabla_b`` entries may be (units, 1) columns, as Nielsen's biases are);
    * a list of the right entries in another order (the output layer first) is
      reordered, and the order is a problem for the whole call.
    """
    notes = [] if notes is None else notes
    extras = {} if extras is None else extras
    copies = [{k: v.copy() for k, v in p.items()} for p in params]
    params = [{k: p[k] for k in s} for p, s in zip(params, spec.param_shapes())]  # a dropout mask gets no gradient
    out, failed = _call(fn, copies, X, Y, mask_for(fn, spec))
    if failed is None:
        out, failed = unpack(out, extras, notes)
    if failed is None:
        out, failed, problems = _entries(out, params, notes)
    if failed is not None:
        return None, {"": failed}
    grads = []
    names = {f"{k}{i}" for i, p in enumerate(params) for k in p}
    for i, (entry, p) in enumerate(zip(out, params)):
        if not p and (entry is None or (isinstance(entry, dict) and set(entry) <= {"mask"})):
            grads.append({})  # a layer without params (pooling, flatten, dropout, ...)
            continue
        got = _as_dict(entry, list(p)) if p else (f"returned {type(entry).__name__}; layer {i} "
                                                  f"({spec.layers[i].kind}) has no params: return {{}} or None")
        if isinstance(got, str):
            problems[f"{next(iter(p), 'W')}{i}"] = f"layer {i}: {got}"
            grads.append({k: None for k in p})
            continue
        grads.append(_layer_gradients(got, p, i, problems))
        flatten_vectors(grads[-1], p, i, notes, extras.setdefault("reshaped", {}))
        _unexpected(got, p, i, spec, names, problems)
    return grads, problems


def mask_for(fn, spec):
    """``{"mask": data.mask}`` (N, T) of 0/1 when the spec has one and ``fn`` takes a ``mask`` argument (or
    ``**kwargs``), else {}."""
    if getattr(spec, "mask", None) is None:
        return {}
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    takes = "mask" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return {"mask": spec.mask.astype(np.float64)} if takes else {}


def _call(fn, copies, X, Y, extra=None):
    """(what ``fn`` returned, None) or (None, why it returned nothing)."""
    with interrupts() as ctrl_c:
        try:
            return fn(copies, X.copy(), Y.copy(), **(extra or {})), None
        except (Exception, SystemExit) as e:
            src = getattr(inspect.unwrap(fn), "__code__", None)
            return None, f"your backprop {_raised(e, getattr(src, 'co_filename', None))}"
        except KeyboardInterrupt as e:
            if ctrl_c is None or ctrl_c:  # a real Ctrl-C: stop
                raise
            src = getattr(inspect.unwrap(fn), "__code__", None)
            return None, f"your backprop {_raised(e, getattr(src, 'co_filename', None))}"


def _entries(out, params, notes):
    """(one entry per layer, first layer first; None or why there are none; problems of the call as a whole)."""
    n = len(params)
    if n == 1 and (isinstance(out, (dict, np.ndarray))
                   or (isinstance(out, tuple) and out and all(isinstance(o, np.ndarray) for o in out))):
        out = [out]  # a one-layer network may return its single entry bare
    if not isinstance(out, (list, tuple)):
        entry = "{'W': dW, 'b': db}" if "b" in params[0] else "{'W': dW}"
        return None, (f"your backprop returned {type(out).__name__}; expected a list with one {entry} "
                      f"per layer ({_count(n, 'layer')})"), {}
    pair = _nielsen_pair(out, params)
    if isinstance(pair, str):
        return None, pair, {}
    if pair is not None:
        out, text = pair
        notes.append(text)
    if len(out) != n:
        return None, (f"your backprop returned {_count(len(out), 'entry', 'entries')}; expected {n} "
                      "(one per layer, first layer first)"), {}
    order = _layer_order(out, params) if all(params) else None
    if order is None:
        return out, None, {}
    return [out[j] for j in order], None, {"": _order_problem(order)}


def _layer_gradients(got, p, i, problems):
    """Layer ``i``'s gradients from the dict it returned (None where missing or unusable, with a problem)."""
    g = {}
    for kind in p:
        name = f"{kind}{i}"
        if kind not in got or got[kind] is None:
            problems[name] = f"{name}: missing (expected d{kind} of shape {p[kind].shape})"
            g[kind] = None
            continue
        g[kind], problem = _gradient(got[kind], name, p[kind].shape)
        if problem:
            problems[name] = problem
    return g


def _unexpected(got, p, i, spec, names, problems):
    """A problem for every key of layer ``i``'s dict that none of its params has."""
    for extra in [k for k in got if k not in p and k != "mask"]:
        why = f" (bias style {spec.bias} has no separate b)" if extra == "b" else _did_you_mean(extra, list(p))
        key = f"{extra}{i}" if f"{extra}{i}" not in names else f"layer {i} {extra}"  # never a tensor's name
        problems[key] = (f"layer {i} ({spec.layers[i].kind}): unexpected key '{extra}' in the dict your "
                         f"backprop returned{why}; expected " + ", ".join(f"'{k}'" for k in p))


#: A gradient of the wrong shape is kept (its values shown) up to this many elements; a bigger one (a broadcast
#: view of a huge shape) is named by its shape alone, never copied.
MAX_WRONG_ELEMENTS = 2**20


def _gradient(value, name, shape):
    """(float64 array or None, problem or None) for one returned gradient ``name`` of expected ``shape``."""
    try:
        got_shape = tuple(int(d) for d in np.shape(value))  # a tensor's own shape: nothing converted yet
        size = math.prod(got_shape)
        if got_shape != tuple(shape) and size > max(MAX_WRONG_ELEMENTS, math.prod(shape)):
            return None, (f"{name}: your d{name.rstrip('0123456789')} has shape {got_shape} ({size:,} elements), "
                          f"expected {tuple(shape)}: far too large to be this gradient (a broadcast?)")
        arr = np.asarray(value)
    except Exception as e:  # e.g. a torch tensor that requires grad refuses to become an array
        why = str(e).splitlines()[0] if str(e) else ""
        hint = "; return NumPy arrays, e.g. t.detach().cpu().numpy()" if hasattr(value, "detach") else ""
        return None, (f"{name}: your {type(value).__name__} cannot be read as a NumPy array "
                      f"({type(e).__name__}: {why}){hint}")
    problem = None
    if arr.dtype.kind == "c":
        problem = (f"{name}: complex-valued (dtype {arr.dtype}); the gradient of a real loss is real: a complex number "
                   "crept in (np.sqrt or np.log of a negative number, an FFT); compared by its real part")
        arr = arr.real
    try:
        arr = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        return None, f"{name}: not a numeric array ({type(value).__name__})"
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(j) for j in np.argwhere(bad)[0])
        problem = f"{name}: {int(bad.sum())} of {arr.size} elements are NaN/Inf (first at {list(first)})"
    return arr, problem


def _did_you_mean(key, kinds):
    """`` (did you mean 'W'?)`` for a key that names one of ``kinds`` another way (dW, weights, grad_b, ...)."""
    bare = str(key).lower()
    for prefix in ("grad_", "grad", "nabla_", "d_", "d"):
        if bare.startswith(prefix) and len(bare) > len(prefix):
            bare = bare[len(prefix):]
            break
    words = {"weight": "W", "weights": "W", "w": "W", "bias": "b", "biases": "b", "b": "b"}
    if words.get(bare) in kinds:
        return f" (did you mean '{words[bare]}'?)"
    return suggest(bare, kinds) or suggest(str(key), kinds)


def _shape_of(x):
    return np.shape(x) if isinstance(x, np.ndarray) else None


def _arrays(x, n):
    """True if ``x`` is a list/tuple of ``n`` arrays."""
    return isinstance(x, (list, tuple)) and len(x) == n and all(isinstance(e, np.ndarray) for e in x)


def _nielsen_pair(out, params):
    """Nielsen's ``(nabla_b, nabla_w)`` (or ``(nabla_w, nabla_b)``) -> (entries, note), a message, or None.

    Recognised when ``out`` is two lists of one array per layer whose shapes are the
    biases' and the weights', and cannot be read as one entry per layer.
    """
    n = len(params)
    if len(out) != 2 or not all(_arrays(part, n) for part in out) or not all("b" in p for p in params):
        return None
    if n == 2 and all(_fits(_as_dict(e, list(p)), p) for e, p in zip(out, params)):
        return None  # two layers returned as (dW, db) pairs: not the Nielsen pattern

    def is_b(part):
        return all(np.size(g) == p["b"].size and np.squeeze(g).ndim <= 1 for g, p in zip(part, params))

    def is_w(part):
        return all(np.shape(g) == p["W"].shape for g, p in zip(part, params))

    name = None
    if is_b(out[0]) and is_w(out[1]):
        nabla_b, nabla_w, name = out[0], out[1], "(nabla_b, nabla_w)"
    elif is_w(out[0]) and is_b(out[1]):
        nabla_w, nabla_b, name = out[0], out[1], "(nabla_w, nabla_b)"
    if name is None:
        got = [[np.shape(g) for g in part] for part in out]
        want = [[p["b"].shape for p in params], [p["W"].shape for p in params]]
        return (f"your backprop returned two lists of {n} arrays, like the (nabla_b, nabla_w) pair of Nielsen's "
                f"backprop, but their shapes {got[0]} and {got[1]} are not the biases' and weights' "
                f"{want[0]} and {want[1]}; return one {{'W': dW, 'b': db}} per layer, first layer first")
    entries = [{"W": w, "b": np.reshape(b, -1)} for b, w in zip(nabla_b, nabla_w)]
    return entries, (f"your backprop returned Nielsen's {name} pair (biases first, each a list over layers); "
                     "read as one {'W': dW, 'b': db} per layer" if name.startswith("(nabla_b") else
                     f"your backprop returned a {name} pair (each a list over layers); read as one "
                     "{'W': dW, 'b': db} per layer")


def _fits(entry, p):
    return isinstance(entry, dict) and all(_shape_of(entry.get(k)) == v.shape for k, v in p.items())


def _layer_order(out, params):
    """The permutation that puts ``out`` in layer order, if it is not in order and exactly one fits; else None."""
    entries = [_as_dict(e, list(p)) for e, p in zip(out, params)]
    if all(_fits(e, p) for e, p in zip(entries, params)):
        return None
    n = len(params)
    fits = [[j for j in range(n) if _fits(_as_dict(out[j], list(p)), p)] for p in params]
    if any(len(f) != 1 for f in fits):
        reverse = list(reversed(range(n)))
        ok = all(_fits(_as_dict(out[j], list(p)), p) for j, p in zip(reverse, params))
        return reverse if ok and n > 1 else None
    order = [f[0] for f in fits]
    return order if sorted(order) == list(range(n)) else None


def _order_problem(order):
    if order == list(reversed(range(len(order)))):
        what = "in reverse order (the output layer first)"
    else:
        what = "out of order (entry " + ", ".join(f"{j} is layer {i}" for i, j in enumerate(order) if i != j) + ")"
    return (f"your backprop lists the layers' gradients {what}; gradcheck expects layer 0 (next to the input) "
            "first. They are compared below in layer order")


def _count(n, word, plural=None):
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _as_dict(entry, kinds):
    """A dict {"W": ..., "b": ...} from a dict, a (dW, db) tuple/list of arrays, or a bare dW; else a message."""
    want = "{" + ", ".join(f"'{k}': d{k}" for k in kinds) + "}"
    if isinstance(entry, dict):
        return {str(k)[1:] if str(k) in ("dW", "db") else str(k): v for k, v in entry.items()}
    if isinstance(entry, (tuple, list)) and entry and all(isinstance(e, np.ndarray) or e is None for e in entry):
        if len(entry) != len(kinds):
            return f"returned {len(entry)} arrays; expected {len(kinds)}: ({', '.join('d' + k for k in kinds)})"
        return dict(zip(kinds, entry))
    if kinds == ["W"] and isinstance(entry, (np.ndarray, list)):
        return {"W": entry}
    return f"returned {type(entry).__name__}; expected {want} or a tuple ({', '.join('d' + k for k in kinds)})"
