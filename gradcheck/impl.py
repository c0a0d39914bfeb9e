"""Load and call a user's backprop function (``--impl module:function`` or ``path/file.py:function``).

The function is called as ``fn(params, X, Y)``: params is a list with one
``{"W": ..., "b": ...}`` dict per layer (float64 copies; no "b" for bias none/augmented),
X and Y in the convention's layout (column: X (input, N), Y (K, N); row: X (N, input),
Y (N, K)). It returns the gradients of the spec's loss in the same structure: a list of
dicts, or a list of ``(dW, db)`` tuples (``(dW,)`` or a bare ``dW`` without b).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np

from .errors import ImplError, describe_exception, suggest

__all__ = ["call_impl", "load_impl"]


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
        path = Path(where)
        if not path.is_file():
            raise ImplError(f"--impl {target}: no such file {where}")
        mod_name = f"_gradcheck_impl_{abs(hash(str(path.resolve())))}"
        loader = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(loader)
        sys.path.insert(0, str(path.resolve().parent))  # let it import its siblings
        try:
            loader.loader.exec_module(module)
        except Exception as e:
            raise ImplError(f"--impl {target}: importing {where} raised {describe_exception(e, str(path))}") from None
        finally:
            sys.path.remove(str(path.resolve().parent))
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as e:
            raise ImplError(f"--impl {target}: no module named {e.name!r} (give a file path, "
                            f"e.g. path/to/{where.split('.')[-1]}.py:{name}, or install the module)") from None
        except Exception as e:
            raise ImplError(f"--impl {target}: importing {where} raised {describe_exception(e)}") from None
    fn = getattr(module, name, None)
    if fn is None:
        public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise ImplError(f"--impl {target}: {where} has no function {name!r}{suggest(name, public)}")
    if not callable(fn):
        raise ImplError(f"--impl {target}: {name!r} is a {type(fn).__name__}, not a function")
    return fn


def call_impl(fn, spec, params, X, Y):
    """Call ``fn(params, X, Y)`` on copies; return (grads, problems).

    ``grads`` is a list of dicts like ``params`` where a missing or unusable entry is
    ``None``; ``problems`` maps ``"W0"``-style names (or ``""`` for the whole call) to a
    one-line description. Nothing the function does escapes as an exception.
    """
    copies = [{k: v.copy() for k, v in p.items()} for p in params]
    try:
        out = fn(copies, X.copy(), Y.copy())
    except Exception as e:
        src = getattr(getattr(fn, "__code__", None), "co_filename", None)
        return None, {"": f"your backprop raised {describe_exception(e, src)}"}
    n = len(params)
    if n == 1 and (isinstance(out, (dict, np.ndarray))
                   or (isinstance(out, tuple) and out and all(isinstance(o, np.ndarray) for o in out))):
        out = [out]  # a one-layer network may return its single entry bare
    if not isinstance(out, (list, tuple)):
        entry = "{'W': dW, 'b': db}" if "b" in params[0] else "{'W': dW}"
        return None, {"": f"your backprop returned {type(out).__name__}; expected a list with one {entry} "
                          f"per layer ({_count(n, 'layer')})"}
    if len(out) != n:
        return None, {"": f"your backprop returned {_count(len(out), 'entry', 'entries')}; expected {n} "
                          "(one per layer, first layer first)"}
    grads, problems = [], {}
    for i, (entry, p) in enumerate(zip(out, params)):
        got = _as_dict(entry, list(p))
        if isinstance(got, str):
            problems[f"W{i}"] = f"layer {i}: {got}"
            grads.append({k: None for k in p})
            continue
        g = {}
        for kind in p:
            name = f"{kind}{i}"
            if kind not in got or got[kind] is None:
                problems[name] = f"{name}: missing (expected d{kind} of shape {p[kind].shape})"
                g[kind] = None
                continue
            try:
                arr = np.asarray(got[kind], dtype=np.float64)
            except (TypeError, ValueError):
                problems[name] = f"{name}: not a numeric array ({type(got[kind]).__name__})"
                g[kind] = None
                continue
            bad = ~np.isfinite(arr)
            if bad.any():
                first = tuple(int(j) for j in np.argwhere(bad)[0])
                problems[name] = (f"{name}: {int(bad.sum())} of {arr.size} elements are NaN/Inf "
                                  f"(first at {list(first)})")
            g[kind] = arr
        for extra in set(got) - set(p):
            problems[f"{extra}{i}"] = (f"layer {i}: unexpected '{extra}'"
                                       + (f" (bias style {spec.bias} has no separate b)" if extra == "b" else ""))
        grads.append(g)
    return grads, problems


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
